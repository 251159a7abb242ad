"""``kasagi bench --profile DIR``: sample the server's processes with py-spy during each
measured window, and say where the time goes.

py-spy (a sampling profiler that reads a process's Python stacks from outside, without
pausing it: ``--nonblocking``) runs on the generator's core. Its "raw" output is one line per
distinct stack, ``frame;frame;...;leaf count``; :func:`summarize_stacks` attributes each
sample to what its stack is doing (the categories below) and lists the busiest functions.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProfileSession", "summarize_stacks"]

_FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")

#: Categories, first match wins, tested on the whole stack (``any``) or the leaf frame.
_STACK_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("debug log arguments (hl*, pformat, click)", re.compile(r"^(hl|hltype|hlid|hlval|hlflag|pformat|_qn|style) \(")),
)
_LEAF_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "socket I/O and polling (syscalls)",
        re.compile(r"^(doPoll|untilConcludes|_add|_remove|doWrite|writeSomeData|doRead) \("),
    ),
    ("serialization (msgpack/cbor/json)", re.compile(r"\((msgpack|cbor2|json|ujson)/|autobahn/wamp/serializer\.py")),
    ("WebSocket framing (autobahn.websocket)", re.compile(r"autobahn/(websocket|twisted/websocket|nvx)")),
    ("WAMP messages and sessions (autobahn.wamp)", re.compile(r"autobahn/(wamp|twisted/wamp)")),
    ("Crossbar router (broker, dealer, authorization)", re.compile(r"crossbar/")),
    ("Kasagi room service (core, runner, component)", re.compile(r"\((kasagi|components|router)/")),
    ("Twisted (reactor, Deferreds)", re.compile(r"twisted/|txaio/")),
)


def _frames(stack: str) -> list[str]:
    out = []
    for raw in stack.split(";"):
        m = _FRAME.match(raw)
        if m:
            path = m.group("file")
            short = path.split("site-packages/")[-1]
            if short.startswith("/"):
                # An absolute path of this checkout: keep it from its package directory on.
                for marker in ("/src/", "/components/", "/router/"):
                    if marker in short:
                        short = ("" if marker == "/src/" else marker.strip("/") + "/") + short.rsplit(marker, 1)[1]
                        break
            out.append(f"{m.group('fn')} ({short})")
        else:
            out.append(raw)
    return out


@dataclass
class StackSummary:
    samples: int
    categories: list[tuple[str, float]]
    self_top: list[tuple[str, float]]
    inclusive_top: list[tuple[str, float]]

    def markdown(self, title: str, seconds: float, rate: int) -> str:
        busy = self.samples / (seconds * rate) * 100 if seconds and rate else 0.0
        lines = [f"### {title}", "", f"{self.samples} samples (~{busy:.0f}% of one core busy in Python).", ""]
        lines += ["| where the time goes | share |", "|---|---|"]
        lines += [f"| {name} | {pct:.1f}% |" for name, pct in self.categories]
        lines += ["", "Busiest functions (self time):", ""]
        lines += [f"- {pct:.1f}% `{name}`" for name, pct in self.self_top]
        lines += ["", "Kasagi and router functions (inclusive time):", ""]
        lines += [f"- {pct:.1f}% `{name}`" for name, pct in self.inclusive_top]
        return "\n".join(lines) + "\n"


def summarize_stacks(lines: Iterable[str], top: int = 12) -> StackSummary:
    """Attribute py-spy raw samples to categories and functions (percent of all samples)."""
    categories: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = _frames(stack)
        for name in set(frames):
            if re.search(r"\((kasagi|components|router)/|crossbar/router/(broker|dealer|router)\.py", name):
                inclusive[name] += n
        leaf[frames[-1]] += n
        category = next((c for c, rx in _STACK_RULES if any(rx.search(f) for f in frames)), None)
        if category is None:
            category = next((c for c, rx in _LEAF_RULES if rx.search(frames[-1])), "other (interpreter, stdlib)")
        categories[category] += n
    pct = (lambda v: 100.0 * v / total) if total else (lambda v: 0.0)
    return StackSummary(
        samples=total,
        categories=[(k, pct(v)) for k, v in categories.most_common()],
        self_top=[(k, pct(v)) for k, v in leaf.most_common(top)],
        inclusive_top=[(k, pct(v)) for k, v in inclusive.most_common(top)],
    )


class ProfileSession:
    """py-spy recorders attached to the server's processes for one measured window."""

    def __init__(self, directory: Path, label: str, rate: int = 100) -> None:
        self.directory = directory
        self.label = label
        self.rate = rate
        self._procs: list[tuple[int, str, Path, subprocess.Popen[bytes]]] = []
        self.seconds = 0.0

    @staticmethod
    def executable() -> str | None:
        """py-spy on the PATH, or beside this Python (a virtualenv that is not activated)."""
        beside = Path(sys.executable).with_name("py-spy")
        return shutil.which("py-spy") or (str(beside) if beside.exists() else None)

    def start(self, pids: Sequence[tuple[int, str]], seconds: float) -> None:
        exe = self.executable()
        if exe is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy)")
        self.seconds = seconds
        self.directory.mkdir(parents=True, exist_ok=True)
        for pid, name in pids:
            out = self.directory / f"{self.label}-{name}-{pid}.txt"
            cmd = [exe, "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-r", str(self.rate)]
            cmd += ["-f", "raw", "-o", str(out), "--nonblocking"]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603 -- our own command line
            self._procs.append((pid, name, out, proc))

    def finish(self, timeout: float = 60.0) -> str:
        """Wait for the recorders; return the markdown summary of each process."""
        parts = []
        for pid, name, out, proc in self._procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if not out.exists():
                continue
            with out.open(encoding="utf-8", errors="replace") as f:
                summary = summarize_stacks(f)
            if summary.samples:
                parts.append(summary.markdown(f"{self.label}: {name} (pid {pid})", self.seconds, self.rate))
        text = "\n".join(parts)
        if text:
            (self.directory / f"{self.label}.md").write_text(text, encoding="utf-8")
        return text
