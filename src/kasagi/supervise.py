"""Running the Crossbar node under ``kasagi up``: the node is a child process in the
process group of ``kasagi up`` (whoever stops that group stops the node too), its log goes to
a file in the data directory, ``kasagi up`` says ``ready`` once the readiness check passes,
and stops the node on Ctrl-C or SIGTERM.

Exit status: 0 after a requested stop of a ready node; 130 when stopped during start-up;
2 when the node stops by itself before it is ready (the room service could not start, a port
was taken meanwhile: one line says why); the node's own status when it stops later.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kasagi.readiness import FAILED_TO_START

__all__ = ["NodeRun", "run_node"]

#: Seconds the node has to become ready.
START_TIMEOUT = 120.0
#: Seconds the node has to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 30.0


@dataclass
class NodeRun:
    command: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    #: Show the node's whole log here too (``--loglevel debug``, or JSON lines).
    echo: bool
    #: The node logs JSON lines (``--log-format json``); so does ``kasagi up``.
    json_lines: bool
    #: True once clients can use the node.
    ready: Callable[[], bool]
    #: What the start-up said when a line told why the node stopped.
    failure: list[str] = field(default_factory=list)
    is_ready: bool = False
    #: A stop was asked for (the node's shutdown chatter is not shown).
    stopping: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


#: One line at a time on the terminal: the node's relayed lines and ``kasagi up``'s own come
#: from several threads, and a line written in two pieces could be cut by another.
_OUT = threading.Lock()


def _emit(text: str, out: IO[str]) -> None:
    with _OUT:
        out.write(text + "\n")
        out.flush()


def say(text: str, *, json_lines: bool, stream: IO[str] | None = None, level: str = "info", **fields: Any) -> None:
    """One line of ``kasagi up`` (a JSON object in JSON mode)."""
    out = stream or sys.stdout
    if json_lines:
        text = json.dumps(
            {"log_time": time.time(), "log_level": level, "log_namespace": "kasagi", "text": text, **fields}
        )
    _emit(text, out)


def _text_of(line: str, json_lines: bool) -> str:
    if not json_lines:
        return line
    try:
        from twisted.logger import eventFromJSON, formatEvent

        return str(formatEvent(eventFromJSON(line)))
    except (ValueError, KeyError, TypeError):
        return line


def _watch(run: NodeRun, text: str) -> None:
    if FAILED_TO_START in text:
        run.failure.append("the room service failed to start: " + text.split(FAILED_TO_START, 1)[1].strip())
    elif "Address already in use" in text or "Couldn't listen on" in text:
        run.failure.append("a port of the node is in use: " + text.strip()[-200:])


def _pump(run: NodeRun, source: IO[bytes], log: IO[bytes], warnings: bool) -> None:
    """Copy the node's output to the log file; show it here when asked (every line with
    ``echo``, warnings and errors once the node is ready)."""
    for raw in iter(source.readline, b""):
        with run.lock:
            log.write(raw)
            log.flush()
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if not run.is_ready:
            _watch(run, _text_of(line, run.json_lines))
        if run.echo or (warnings and run.is_ready and not run.stopping):
            _emit(line, sys.stdout if run.json_lines else sys.stderr)
    source.close()


class _Stop:
    """Ctrl-C and SIGTERM: stop the node (its process group), no traceback."""

    def __init__(self, run: NodeRun, proc: subprocess.Popen[bytes]) -> None:
        self.run = run
        self.proc = proc
        self.requested = False

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = self.run.stopping = True
        if self.proc.poll() is None:
            self.proc.terminate()


def _wait_stopped(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def run_node(run: NodeRun, on_ready: Callable[[float], None]) -> int:
    """Start the node, wait until it is ready (``on_ready(seconds)``), then until it stops."""
    run.log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with run.log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 -- our own command line (crossbar start)
            list(run.command),
            env=dict(run.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stop = _Stop(run, proc)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            threading.Thread(target=_pump, args=(run, proc.stdout, log, False), daemon=True),
            threading.Thread(target=_pump, args=(run, proc.stderr, log, True), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        status = _until_ready(run, proc, stop, started, pumps)
        if status is None:
            on_ready(time.monotonic() - started)
            while proc.poll() is None:
                try:
                    proc.wait(1.0)
                except subprocess.TimeoutExpired:
                    continue
            status = 0 if stop.requested else proc.returncode
            say(
                "kasagi: stopped" if stop.requested else f"kasagi: the node stopped (exit status {status})",
                json_lines=run.json_lines,
            )
        for pump in pumps:
            pump.join(5.0)
    return status


def _until_ready(
    run: NodeRun, proc: subprocess.Popen[bytes], stop: _Stop, started: float, pumps: Sequence[threading.Thread]
) -> int | None:
    """None once the node is ready; else the exit status of ``kasagi up``."""
    deadline = started + START_TIMEOUT
    while True:
        if stop.requested:
            _wait_stopped(proc)
            say("kasagi: stopped during start-up", json_lines=run.json_lines, stream=sys.stderr)
            return 130
        if proc.poll() is not None:
            for pump in pumps:
                pump.join(5.0)  # the node's last lines say why it stopped
            reason = run.failure[0] if run.failure else f"exit status {proc.returncode}"
            say(
                f"kasagi: the node stopped during start-up: {reason} (log: {run.log_path})",
                json_lines=run.json_lines,
                stream=sys.stderr,
                level="error",
            )
            return 2
        if time.monotonic() > deadline:
            proc.terminate()
            _wait_stopped(proc)
            say(
                f"kasagi: the node was not ready within {START_TIMEOUT:.0f} s (log: {run.log_path})",
                json_lines=run.json_lines,
                stream=sys.stderr,
                level="error",
            )
            return 2
        if run.ready():
            run.is_ready = True
            return None
        time.sleep(0.1)  # polling interval of the readiness check
