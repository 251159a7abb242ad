"""The Node generator (``--generator node``): a generator process that runs its bots as
Autobahn JS clients in a Node child (``_node_worker.mjs``), and relays between that child's
JSON lines and the parent's pipe (the same messages as :mod:`._worker`).

The child's latency comes as ``{microseconds: count}``; it is put into the same histogram
(and encoding) as the Python bots'. The relay ends the child when the parent says stop or
its pipe closes, and kills it if it does not exit within a few seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

__all__ = ["NODE_WORKER", "node_available", "run_node_worker"]

NODE_WORKER = Path(__file__).with_name("_node_worker.mjs")
#: Seconds the child gets to exit after stop.
STOP_GRACE = 10.0


def node_available() -> bool:
    """Whether ``node`` and the npm ``autobahn`` package (next to the project) are there."""
    root = Path(__file__).resolve().parents[3]
    return shutil.which("node") is not None and (root / "node_modules" / "autobahn").is_dir()


def _relay_result(payload: dict[str, Any]) -> dict[str, Any]:
    from kasagi.bench._bot import new_histogram

    hist = new_histogram()
    for us, count in payload.pop("latency_us", {}).items():
        hist.record_value(int(us), int(count))
    payload["latency"] = hist.encode().decode("ascii")
    return payload


def run_node_worker(conn: Any, spec: dict[str, Any]) -> None:
    """Run ``spec``'s bots in a Node child until the parent says stop (the pipe protocol of
    :func:`kasagi.bench._worker.worker_main`)."""
    node = shutil.which("node")
    if node is None:
        conn.send(("error", "node is not installed: the Node generator needs it"))
        return
    child_spec = {k: v for k, v in spec.items() if k != "cpus"}
    proc = subprocess.Popen(  # noqa: S603 -- our own script, no shell
        [node, str(NODE_WORKER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert proc.stdin is not None and proc.stdout is not None
    child = _Child(proc)
    child.tell({"kind": "spec", **child_spec})
    threading.Thread(target=child.relay_control, args=(conn,), daemon=True).start()
    try:
        for line in proc.stdout:
            try:
                kind, payload = json.loads(line)
            except ValueError:
                continue  # not one of ours (a library's console output)
            if kind == "result":
                payload = _relay_result(payload)
            conn.send((kind, payload))
    finally:
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_GRACE)
    if proc.returncode not in (0, None):
        conn.send(("error", f"the Node generator exited with {proc.returncode}"))


class _Child:
    """The Node child's input: one JSON line per message, from two threads."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc
        self._lock = threading.Lock()

    def tell(self, message: dict[str, Any]) -> None:
        with self._lock:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps(message) + "\n")
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass

    def relay_control(self, conn: Any) -> None:
        """Pass the parent's ``step`` messages on until it says stop (or goes away)."""
        while True:
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                kind, payload = "stop", None
            if kind == "step":
                self.tell({"kind": "step", **payload})
            else:
                self.tell({"kind": "stop"})
                return
