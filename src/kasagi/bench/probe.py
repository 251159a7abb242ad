"""``python -m kasagi.bench.probe``: start a fresh node and print its vital figures.

Node start time (process start to the first WebSocket upgrade), RSS of every process of the
node, and the round trip act -> own event under each serializer (median and p90 of N
sequential moves, one client). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from twisted.internet import defer, task

from kasagi.client import KasagiClient
from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess

__all__ = ["main"]


def rss_mib(pids: list[int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pid in pids:
        try:
            p = psutil.Process(pid)
            out[f"{pid} {p.name()}"] = p.memory_info().rss / 2**20
        except psutil.Error:
            continue
    return out


async def round_trips(url: str, serializer: str, n: int) -> list[float]:
    client = await KasagiClient.connect(url, f"probe_{serializer}", serializer=serializer)
    room = await client.join(f"probe_{serializer}")
    arrived: dict[int, float] = {}
    room.on_change(lambda event: arrived.setdefault(event["seq"], time.perf_counter()) if event else None)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        ack = await room.act("move", {"dx": 1 if i % 2 else -1, "dy": 0})
        while ack["seq"] not in arrived:  # the event precedes the result on one connection
            await task.deferLater(client.reactor, 0.0005, lambda: None)
        samples.append((arrived[ack["seq"]] - start) * 1000)
    await client.close()
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kasagi.bench.probe")
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--tick", type=float, default=0.0)
    parser.add_argument("--component", default="router", choices=("router", "process"))
    parser.add_argument("--store", default="memory")
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="kasagi-probe-"))
    options = NodeOptions(
        port=free_port(),
        data_dir=data,
        loglevel="warn",
        component=args.component,
        service={"tick": args.tick, "store": args.store},
    )
    node = NodeProcess(options)
    t0 = time.monotonic()
    node.start()
    started = time.monotonic() - t0
    print(f"node ready in {started:.2f} s (component={args.component}, store={args.store}, tick={args.tick})")
    rss = rss_mib(node.pids())
    for name, mib in sorted(rss.items()):
        print(f"  rss {name}: {mib:.0f} MiB")
    print(f"  rss total: {sum(rss.values()):.0f} MiB over {len(rss)} processes")

    async def measure(reactor: Any) -> None:
        for serializer in ("cbor", "msgpack", "json"):
            samples = await round_trips(node.url, serializer, args.moves)
            q = statistics.quantiles(samples, n=10)
            median = statistics.median(samples)
            n = len(samples)
            print(f"  act -> own event, {serializer:7s}: median {median:.2f} ms, p90 {q[-1]:.2f} ms ({n} moves)")

    try:
        task.react(lambda reactor: defer.ensureDeferred(measure(reactor)))
    except SystemExit:
        pass
    finally:
        node.stop()


if __name__ == "__main__":
    main()
