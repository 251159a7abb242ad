"""Point ``T`` of ``kasagi bench``: server loops with nobody acting.

``rooms`` rooms of the ``chase`` example (``tick_hz = 20``), each with ``members`` members
online and no actions: the members join with the room's ``join`` procedure but do not
subscribe to its events, so what is measured is the server loop (ticks, their commits to the
store, the publishes to no subscriber), not the fan-out to clients. Every room is opened
first (nobody online, so nothing ticks), then the members join in batches of ``JOIN_BATCH``
rooms with long call deadlines: a node past its capacity still answers, late, and joining is
not what is measured. Reported over the measured window: room-ticks run against those due,
the ticks a lagging loop skipped, server CPU (of every node process) and CPU per room-tick
(that CPU / ticks run, the ``_count`` of the server's histogram
``kasagi_room_tick_lateness_seconds``), and the p50/p99 tick lateness from that histogram
(how long after its due time each tick ran).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
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
#: The chase example's ``tick_hz``.
TICK_HZ = 20


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
    #: Setting up: seconds to open every room, then to join every member; connections the
    #: clients lost from their first join to the end of the measured window.
    opened_s: float = 0.0
    joined_s: float = 0.0
    connections_lost: int = 0

    @property
    def cpu_us_per_room_tick(self) -> float | None:
        return self.server_cpu_s / self.ticks * 1e6 if self.ticks else None

    @property
    def ticks_per_s(self) -> float:
        return self.ticks / self.seconds

    @property
    def ticks_due_per_s(self) -> int:
        return self.rooms * TICK_HZ

    @property
    def server_cpu_percent(self) -> float:
        return self.server_cpu_s / self.seconds * 100

    def line(self) -> str:
        per = "n/a" if self.cpu_us_per_room_tick is None else f"{self.cpu_us_per_room_tick:.0f} us"

        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"<= {v:g} ms"

        return (
            f"T: {self.rooms} chase rooms x {self.members} members at {TICK_HZ} Hz, no actions: "
            f"{self.ticks_per_s:.0f} room-ticks/s run of {self.ticks_due_per_s} due "
            f"({self.ticks_per_s / self.ticks_due_per_s * 100:.0f}%), {self.ticks_skipped} skipped "
            f"({self.ticks_skipped / self.seconds:.0f}/s); "
            f"server CPU {self.server_cpu_percent:.0f}%, {per} per room-tick; "
            f"tick lateness p50 {ms(self.lateness_p50_ms)}, p99 {ms(self.lateness_p99_ms)}; "
            f"set-up: opened in {self.opened_s:.0f} s, joined in {self.joined_s:.0f} s, "
            f"{self.connections_lost} connections lost"
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
#: Ticks a lagging loop skipped to catch up with the clock.
TICKS_SKIPPED = "kasagi_room_ticks_skipped_total"


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


#: Rooms whose members join at once; a batch's joins are all in flight together.
JOIN_BATCH = 25
#: Rooms one opener opens (the per-member limit of live rooms opened is 100).
ROOMS_PER_OPENER = 100
#: Deadline of every call while the rooms are set up: a saturated node answers late, and
#: joining is not what is measured.
SETUP_CALL_TIMEOUT = 300.0


@dataclass
class _Setup:
    """What setting up the rooms took, and the connections lost since."""

    opened_s: float = 0.0
    joined_s: float = 0.0
    connections_lost: int = 0
    clients: list[Any] = field(default_factory=list)


def _setup_options() -> Any:
    from kasagi.client import ClientOptions

    # No client-side pings: a saturated node answers them late, and the client would drop a
    # healthy connection; the node's own pings are answered by the WebSocket layer. No
    # rejoin of quiet rooms: the members do not subscribe, so every room is quiet to them.
    return ClientOptions(
        call_timeout=SETUP_CALL_TIMEOUT,
        act_deadline=SETUP_CALL_TIMEOUT,
        connect_timeout=60.0,
        ping_interval=0.0,
        quiet_rejoin=0.0,
    )


def _join_all(url: str, rooms: int, members: int, prefix: str, setup: _Setup, say: Any) -> Any:
    """Open every room first (nobody online, so nothing ticks), then join the members in
    batches of ``JOIN_BATCH`` rooms, each room starting to tick as its members arrive."""
    from twisted.internet import defer

    from kasagi.client import KasagiClient

    def lost(connected: bool) -> None:
        if not connected:
            setup.connections_lost += 1

    @defer.inlineCallbacks
    def connect(authid: str):  # type: ignore[no-untyped-def]
        client = yield KasagiClient.connect(url, authid, options=_setup_options())
        client.on_connection_change(lost)
        setup.clients.append(client)
        return client

    @defer.inlineCallbacks
    def go():  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        names = [f"{prefix}{r}" for r in range(rooms)]
        for k in range(0, rooms, ROOMS_PER_OPENER):
            opener = yield connect(f"loop_opener{k // ROOMS_PER_OPENER}")
            chunk = names[k : k + ROOMS_PER_OPENER]
            for i in range(0, len(chunk), JOIN_BATCH):
                yield defer.gatherResults(
                    [opener.call(wire.LOBBY_OPEN, room, "chase", {}) for room in chunk[i : i + JOIN_BATCH]],
                    consumeErrors=True,
                )
        setup.opened_s = time.monotonic() - t0
        say(f"T: {rooms} rooms opened in {setup.opened_s:.1f} s")
        clients = []
        for m in range(members):
            clients.append((yield connect(f"loop_m{m}")))
        t1 = time.monotonic()
        for i in range(0, rooms, JOIN_BATCH):
            batch = names[i : i + JOIN_BATCH]
            yield defer.gatherResults(
                [c.call(wire.room_procedure(room, "join"), None) for room in batch for c in clients],
                consumeErrors=True,
            )
            done = i + len(batch)
            if done % 100 == 0 or done == rooms:
                say(f"T: {done} rooms joined ({time.monotonic() - t1:.1f} s)")
        setup.joined_s = time.monotonic() - t1
        return clients

    return go()


def run_loop_point(
    rooms: int = 1000,
    members: int = 2,
    warmup: float = 5.0,
    measure: float = 20.0,
    server_cpus: str | None = "0",
    generator_cpus: set[int] | None = None,
    say: Any = None,
) -> LoopPointResult:
    """Start a node serving chase, join ``members`` to each of ``rooms`` rooms, then measure."""
    from twisted.internet import reactor, threads

    def tell(text: str) -> None:
        (say or (lambda t: print(t, flush=True)))(text)

    if generator_cpus:
        os.sched_setaffinity(0, generator_cpus)
    tmp = Path(tempfile.mkdtemp(prefix="kasagi-bench-loops-"))
    metrics_port = free_port()
    options = NodeOptions(
        port=free_port(),
        host="127.0.0.1",
        data_dir=tmp,
        # An opened room waits for its members however long the joins before it take.
        service={"store": "memory", "room_idle": 3600.0},
        room_types=(CHASE,),
        metrics_port=metrics_port,
        loglevel="warn",
        # The node pings every 10 s as shipped; a saturated node reads the pong late, so it
        # waits longer for it than shipped (30 s, not 10 s) rather than drop a live member.
        ping_timeout_ms=30_000,
    )
    node = NodeProcess(options, cpus=server_cpus, log_path=tmp / "node.log").start(90.0)
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    result: list[LoopPointResult] = []
    setup = _Setup()

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
                ticks_skipped=int(s1[TICKS_SKIPPED] - s0[TICKS_SKIPPED]),
                server_cpu_s=c1 - c0,
                lateness_p50_ms=lateness_quantile(b0, b1, 0.5),
                lateness_p99_ms=lateness_quantile(b0, b1, 0.99),
                opened_s=setup.opened_s,
                joined_s=setup.joined_s,
                connections_lost=setup.connections_lost,
            )

        tell(f"T: warm-up {warmup:g} s, then {measure:g} s measured")
        return threads.deferToThread(blocking)

    def done(value: Any) -> Any:
        if isinstance(value, LoopPointResult):
            result.append(value)
        for client in setup.clients:
            client.close()
        reactor.stop()
        return value

    try:
        d = _join_all(node.url, rooms, members, f"loops_{os.getpid()}_", setup, tell)
        d.addCallback(measure_it)
        d.addBoth(done)
        reactor.run()
    finally:
        node.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if not result:
        raise RuntimeError("the loop point did not finish (see the log above)")
    return result[0]
