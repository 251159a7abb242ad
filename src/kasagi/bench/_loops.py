"""Point ``T`` of ``kasagi bench``: server loops with nobody acting.

``rooms`` rooms of the ``chase`` example (``tick_hz = 20``), each with ``members`` members
online and no actions: the members join with the room's ``join`` procedure but do not
subscribe to its events, so what is measured is the server loop (ticks, their commits to the
store, the publishes to no subscriber), not the fan-out to clients. Reported: server CPU time
per room-tick (CPU of every node process / ticks run, the ``_count`` of the server's histogram
``kasagi_room_tick_lateness_seconds``) and the p99 tick lateness from that histogram (how long
after its due time each tick ran), both over the measured window.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kasagi import wire
from kasagi.bench._server import ProcessMeter
from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess
from kasagi.testing.topology import http_get

__all__ = ["CHASE", "LoopPointResult", "lateness_quantile", "run_loop_point"]

CHASE = "examples.chase.rooms:Chase"


@dataclass(frozen=True)
class LoopPointResult:
    rooms: int
    members: int
    seconds: float
    ticks: int
    ticks_skipped: int
    server_cpu_s: float
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None

    @property
    def cpu_us_per_room_tick(self) -> float | None:
        return self.server_cpu_s / self.ticks * 1e6 if self.ticks else None

    @property
    def ticks_per_s(self) -> float:
        return self.ticks / self.seconds

    def line(self) -> str:
        per = "n/a" if self.cpu_us_per_room_tick is None else f"{self.cpu_us_per_room_tick:.0f} us"

        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"<= {v:g} ms"

        return (
            f"T: {self.rooms} chase rooms x {self.members} members at 20 Hz, no actions: "
            f"{self.ticks_per_s:.0f} room-ticks/s (of {self.rooms * 20} due), {self.ticks_skipped} skipped; "
            f"server CPU {self.server_cpu_s / self.seconds * 100:.0f}%, {per} per room-tick; "
            f"tick lateness p50 {ms(self.lateness_p50_ms)}, p99 {ms(self.lateness_p99_ms)}"
        )


def _samples(url: str) -> dict[str, float]:
    status, body = http_get(url, timeout=10.0)
    if status != 200:
        raise RuntimeError(f"{url} answered {status}")
    out: dict[str, float] = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


#: Ticks run: every tick run is observed once by the lateness histogram.
TICKS_RUN = "kasagi_room_tick_lateness_seconds_count"


def _buckets(samples: dict[str, float]) -> list[tuple[float, float]]:
    prefix = 'kasagi_room_tick_lateness_seconds_bucket{le="'
    out = []
    for key, value in samples.items():
        if key.startswith(prefix):
            le = key[len(prefix) : -2]
            out.append((float("inf") if le == "+Inf" else float(le), value))
    return sorted(out)


def lateness_quantile(before: list[tuple[float, float]], after: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding quantile ``q`` of the ticks between two
    readings of the cumulative histogram; None without ticks."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    if not counts or counts[-1][1] <= 0:
        return None
    total = counts[-1][1]
    for le, n in counts:
        if n >= q * total:
            return le * 1000
    return None


def _join_all(url: str, rooms: int, members: int, prefix: str) -> Any:
    from twisted.internet import defer

    from kasagi.client import ClientOptions, KasagiClient

    @defer.inlineCallbacks
    def go():  # type: ignore[no-untyped-def]
        clients = []
        for m in range(members):
            # A saturated server answers late: joining is not what is measured.
            options = ClientOptions(call_timeout=120.0, act_deadline=120.0)
            client = yield KasagiClient.connect(url, f"loop_m{m}", options=options)
            clients.append(client)
        for r in range(rooms):
            room = f"{prefix}{r}"
            yield clients[0].call(wire.LOBBY_OPEN, room, "chase", {})
            yield defer.gatherResults([c.call(wire.room_procedure(room, "join"), None) for c in clients])
        return clients

    return go()


def run_loop_point(
    rooms: int = 1000,
    members: int = 2,
    warmup: float = 5.0,
    measure: float = 20.0,
    server_cpus: str | None = "0",
    generator_cpus: set[int] | None = None,
) -> LoopPointResult:
    """Start a node serving chase, join ``members`` to each of ``rooms`` rooms, then measure."""
    from twisted.internet import reactor, threads

    if generator_cpus:
        os.sched_setaffinity(0, generator_cpus)
    tmp = Path(tempfile.mkdtemp(prefix="kasagi-bench-loops-"))
    metrics_port = free_port()
    options = NodeOptions(
        port=free_port(),
        host="127.0.0.1",
        data_dir=tmp,
        service={"store": "memory"},
        room_types=(CHASE,),
        metrics_port=metrics_port,
        loglevel="warn",
    )
    node = NodeProcess(options, cpus=server_cpus, log_path=tmp / "node.log").start(90.0)
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    result: list[LoopPointResult] = []

    def measure_it(_: Any) -> Any:
        def blocking() -> LoopPointResult:
            meter = ProcessMeter(node.pids())
            time.sleep(warmup)  # the warm-up phase of the measurement (not a wait for a condition)
            s0, c0, t0 = _samples(metrics), meter.cpu_seconds(), time.monotonic()
            time.sleep(measure)  # the measured phase
            s1, c1, t1 = _samples(metrics), meter.cpu_seconds(), time.monotonic()
            b0, b1 = _buckets(s0), _buckets(s1)
            return LoopPointResult(
                rooms=rooms,
                members=members,
                seconds=t1 - t0,
                ticks=int(s1[TICKS_RUN] - s0[TICKS_RUN]),
                ticks_skipped=int(s1["kasagi_room_ticks_skipped_total"] - s0["kasagi_room_ticks_skipped_total"]),
                server_cpu_s=c1 - c0,
                lateness_p50_ms=lateness_quantile(b0, b1, 0.5),
                lateness_p99_ms=lateness_quantile(b0, b1, 0.99),
            )

        return threads.deferToThread(blocking)

    def done(value: Any) -> Any:
        if isinstance(value, LoopPointResult):
            result.append(value)
        reactor.stop()
        return value

    try:
        d = _join_all(node.url, rooms, members, f"loops_{os.getpid()}_")
        d.addCallback(measure_it)
        d.addBoth(done)
        reactor.run()
    finally:
        node.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if not result:
        raise RuntimeError("the loop point did not finish (see the log above)")
    return result[0]
