"""The soak: ``kasagi bench``'s load A against one ``kasagi up`` node for a long while (10
minutes by default), the RSS of the node's processes sampled every 10 s. It fails (exit 1)
when memory keeps growing after warm-up: the slope of a least-squares line through the second
half of the samples is above ``--max-slope`` MiB per minute. Prints the curve.

``make soak`` runs it; ``python -m kasagi.bench.soak --minutes 2`` checks that it runs, but its
verdict means little: the rooms keep 2 minutes of history, so memory rises for the first
2-3 minutes by design, and only a run of about 5 minutes or more has a second half past that.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess

__all__ = ["main", "slope", "verdict"]


def slope(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of ``(x, y)`` points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in points) / var


def verdict(samples: Sequence[tuple[float, float]], max_slope: float) -> tuple[bool, float]:
    """Whether the RSS curve (seconds, MiB) levelled off: the slope over its second half, in
    MiB per minute, is at most ``max_slope``; and that slope."""
    tail = samples[len(samples) // 2 :]
    per_minute = slope(tail) * 60
    return per_minute <= max_slope, per_minute


def _rss_mib(node: NodeProcess) -> float:
    return node.rss() / 2**20


def _sample_while(
    proc: subprocess.Popen[bytes], node: NodeProcess, every: float, started: float
) -> list[tuple[float, float]]:
    samples: list[tuple[float, float]] = []
    while proc.poll() is None:
        samples.append((time.monotonic() - started, _rss_mib(node)))
        print(f"soak: {samples[-1][0]:6.0f} s  RSS {samples[-1][1]:7.1f} MiB", flush=True)
        try:
            proc.wait(timeout=every)
        except subprocess.TimeoutExpired:
            pass
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kasagi-soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="how long load A runs (default 10)")
    p.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples (default 10)")
    p.add_argument("--max-slope", type=float, default=1.0, help="MiB per minute allowed over the second half")
    p.add_argument("--store", default="sqlite", help="the node's store (default sqlite, as kasagi up)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kasagi-soak-") as tmp:
        port = free_port()
        options = NodeOptions(port=port, data_dir=Path(tmp) / "node", loglevel="warn", service={"store": args.store})
        node = NodeProcess(options).start(timeout=120)
        try:
            return _soak(node, args, Path(tmp))
        finally:
            node.stop()


def _soak(node: NodeProcess, args: argparse.Namespace, tmp: Path) -> int:
    seconds = args.minutes * 60
    bench = [
        sys.executable,
        *("-m", "kasagi.cli", "bench", "--points", "A", "--repeats", "1", "--url", node.url, "--no-pin"),
        *("--warmup", "5", "--measure", str(seconds), "--drain", "2", "--out", str(tmp / "bench")),
    ]
    started = time.monotonic()
    log = tmp / "bench.log"
    with log.open("w") as sink:
        # Our own interpreter running our own bench: no untrusted input.
        proc = subprocess.Popen(bench, stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603
        samples = _sample_while(proc, node, args.every, started)
    out = log.read_text(errors="replace")
    if proc.returncode != 0:
        print(out, file=sys.stderr)
        print(f"soak: kasagi bench failed (exit {proc.returncode})", file=sys.stderr)
        return 2
    print(out.strip().splitlines()[-1] if out.strip() else "", flush=True)
    ok, per_minute = verdict(samples, args.max_slope)
    start, end = samples[0][1], samples[-1][1]
    print(
        f"soak: {len(samples)} samples over {samples[-1][0]:.0f} s; RSS {start:.1f} -> {end:.1f} MiB "
        f"(peak {max(s[1] for s in samples):.1f}); second-half slope {per_minute:+.2f} MiB/min "
        f"(limit {args.max_slope:.2f}): {'OK' if ok else 'GROWING'}",
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
