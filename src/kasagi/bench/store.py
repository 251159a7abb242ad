"""``python -m kasagi.bench.store``: what the choice of store costs.

Three measurements, printed as Markdown tables (figures only; nothing is asserted):

1. **act -> ack latency at load A** (10 rooms x 10 clients x 10 Hz, ``arena`` moves; see
   ``docs/benchmarks.md``) for each store side by side in one run: a fresh node per store, its
   processes (and Redis) pinned to the server cores, the load generator (this process) to
   another core. Latency is measured at the client from sending ``act`` to its reply,
   which comes only once the batch is durable.
2. **reload time of a room with 100k events of history**: ``load`` + rebuild (what opening a
   room after a restart does), with a snapshot 500 events before the head (the default
   cadence) and with no snapshot at all (all 100k events replayed); median of repeats.
3. **the store alone**: append latency and the process's CPU time per append with 10 rooms
   writing at once, one batch in flight per room (the room service's pattern), and this
   disk's fsync time -- the part of (1) that is the store's, without router, network or
   clients.

This is the store's own tool; the full workload benchmark lives elsewhere.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from hdrh.histogram import HdrHistogram
from twisted.internet import defer, task, threads

from kasagi.client import ClientOptions, KasagiClient
from kasagi.core import Batch, RoomConfig
from kasagi.core.restore import rebuild
from kasagi.node import NodeOptions
from kasagi.roomtypes import BUILTIN_TYPES
from kasagi.store.factory import open_store
from kasagi.store.interface import StoreLimits
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess
from kasagi.testing.redis_server import RedisServer

__all__ = ["main"]

STORES = ("memory", "sqlite", "redis")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextmanager
def _redis(tmp: Path, cpus: str | None) -> Iterator[RedisServer]:
    server = RedisServer(tmp / "redis", free_port(), appendfsync="always", cpus=cpus).start()
    try:
        yield server
    finally:
        server.kill()


# -- 1. latency at load A ------------------------------------------------------------------------
class _Load:
    def __init__(self, rooms: int, clients: int, rate: float, seed: int) -> None:
        self.rooms, self.clients, self.rate = rooms, clients, rate
        self.rng = random.Random(seed)
        self.hist = HdrHistogram(1, 60_000_000, 3)  # microseconds
        self.measuring = False
        self.acked = self.refused = self.errors = 0
        self._loops: list[task.LoopingCall] = []
        self._inflight: list[defer.Deferred[Any]] = []

    async def connect(self, url: str) -> list[tuple[KasagiClient, Any]]:
        options = ClientOptions(call_timeout=10.0, act_deadline=10.0, connect_timeout=30.0)
        pairs = []
        for r in range(self.rooms):
            for c in range(self.clients):
                client = await KasagiClient.connect(url, f"b{r}_{c}", options=options)
                handle = await client.join(f"bench_{r}")
                pairs.append((client, handle))
        return pairs

    def start(self, pairs: list[tuple[KasagiClient, Any]], clock: Any) -> None:
        for n, (_, handle) in enumerate(pairs):
            loop = task.LoopingCall(self._move, handle, n)
            loop.clock = clock
            self._loops.append(loop)
            phase = self.rng.random() / self.rate
            clock.callLater(phase, lambda lp=loop: lp.start(1.0 / self.rate, now=True).addErrback(lambda f: None))

    def _move(self, handle: Any, n: int) -> None:
        count = getattr(handle, "_bench_moves", 0) + 1
        handle._bench_moves = count
        invalid = count % 100 == 0
        dx = self.rng.randint(11, 15) if invalid else self.rng.randint(-10, 10)
        sent = time.perf_counter()
        d = handle.act("move", {"dx": dx, "dy": self.rng.randint(-10, 10), "t": time.time() * 1000})
        measuring = self.measuring

        def ok(_: object) -> None:
            if measuring and self.measuring:
                self.hist.record_value(max(1, int((time.perf_counter() - sent) * 1e6)))
                self.acked += 1

        def failed(f: Any) -> None:
            if not (measuring and self.measuring):
                return
            if getattr(f.value, "error", "") == "kasagi.error.rejected":
                self.refused += 1
            else:
                self.errors += 1

        d.addCallbacks(ok, failed)

    def stop(self) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()


async def measure_load(store: str, args: argparse.Namespace, tmp: Path, clock: Any) -> dict[str, Any]:
    """One fresh node with ``store``, load A for warm-up + window; the row of figures."""
    redis_ctx = _redis(tmp / store, args.server_cpus) if store == "redis" else None
    redis = redis_ctx.__enter__() if redis_ctx else None
    spec = redis.url if redis else store
    port = free_port()
    node = NodeProcess(
        NodeOptions(port=port, data_dir=tmp / store / "node", loglevel="warn", service={"store": spec}),
        cpus=args.server_cpus,
    )
    load = _Load(args.rooms, args.clients, args.rate, args.seed)
    try:
        await threads.deferToThread(node.start, 120.0)
        pairs = await load.connect(node.url)
        load.start(pairs, clock)
        await task.deferLater(clock, args.warmup, lambda: None)
        server_pids = node.pids() + ([redis.proc.pid] if redis and redis.proc else [])
        cpu0, self0, t0 = _cpu_seconds(server_pids), _self_cpu(), time.monotonic()
        rss_peak = 0.0
        load.measuring = True
        for _ in range(int(args.duration)):
            await task.deferLater(clock, 1.0, lambda: None)
            rss_peak = max(rss_peak, sum(_rss(p) for p in server_pids))
        load.measuring = False
        elapsed = time.monotonic() - t0
        cpu1, self1 = _cpu_seconds(server_pids), _self_cpu()
        load.stop()
        await task.deferLater(clock, args.drain, lambda: None)
        for client, _ in pairs:
            client.close()
        h = load.hist
        return {
            "store": store,
            "acked/s": load.acked / elapsed,
            "p50": h.get_value_at_percentile(50) / 1000,
            "p90": h.get_value_at_percentile(90) / 1000,
            "p99": h.get_value_at_percentile(99) / 1000,
            "max": h.get_max_value() / 1000,
            "refused": load.refused,
            "errors": load.errors,
            "server_cpu": 100 * (cpu1 - cpu0) / elapsed,
            "server_rss": rss_peak / 2**20,
            "gen_cpu": 100 * (self1 - self0) / elapsed,
        }
    finally:
        load.stop()
        node.kill()
        if redis_ctx:
            redis_ctx.__exit__(None, None, None)


def _rss(pid: int) -> float:
    try:
        return float(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0.0


# -- 2. reload time -------------------------------------------------------------------------------
def _event_ops(seq: int, players: int = 10) -> list[list[Any]]:
    p = seq % players
    return [["set", ["players", f"p{(p + k) % players}", "x"], (seq * 7 + k) % 1000] for k in range(3)] + [
        ["set", ["players", f"p{p}", "t"], seq * 20.5]
    ]


def _state_at(seq: int, players: int = 10) -> dict[str, Any]:
    from kasagi.core.ops import apply_ops

    state: dict[str, Any] = {
        "members": {},
        "players": {f"p{i}": {"x": 0, "y": 0, "hp": 100, "t": 0} for i in range(players)},
    }
    for s in range(1, seq + 1):
        apply_ops(state, _event_ops(s))
    return state


async def measure_reload(store: str, args: argparse.Namespace, tmp: Path, reactor: Any) -> dict[str, Any]:
    """Fill a room with ``args.events`` events; time load + rebuild with and without a snapshot."""
    n = args.events
    redis_ctx = _redis(tmp / f"reload-{store}", args.server_cpus) if store == "redis" else None
    redis = redis_ctx.__enter__() if redis_ctx else None
    spec = redis.url if redis else store
    (tmp / f"reload-{store}").mkdir(parents=True, exist_ok=True)
    limits = StoreLimits(history_events=n + 10, hard_cap=n + 10)
    opened: list[Any] = []

    async def fresh() -> Any:
        if opened and store != "memory":
            await opened[-1].close()
        if store == "memory" and opened:
            return opened[-1]
        s = await open_store(spec, reactor, limits=limits, data_dir=tmp / f"reload-{store}")
        opened.append(s)
        return s

    try:
        s = await fresh()
        initial = {"members": {}, "players": {f"p{i}": {"x": 0, "y": 0, "hp": 100, "t": 0} for i in range(10)}}
        epoch = 1_700_000_000_000
        figures: dict[str, Any] = {"store": store}
        for label, room, snapshot_at in (("tail 500", "with_snap", n - 500), ("tail 100k", "no_snap", 0)):
            await s.create(room, "arena", {}, epoch, initial)
            started = time.monotonic()
            chunk = 500
            for first in range(1, n + 1, chunk):
                await defer.gatherResults(
                    [
                        s.append(Batch(room, epoch, seq, _event_ops(seq), None, ((f"p{seq % 10}", seq),)))
                        for seq in range(first, min(n, first + chunk - 1) + 1)
                    ]
                )
            figures[f"fill {label} s"] = time.monotonic() - started
            if snapshot_at:
                await s.save_snapshot(room, epoch, snapshot_at, _state_at(snapshot_at))
            samples = []
            for _ in range(args.repeat):
                s = await fresh()
                t0 = time.perf_counter()
                stored = await s.load(room)
                rebuilt = rebuild(stored, config=RoomConfig(history_events=1000), now_ms=0, types=BUILTIN_TYPES)
                samples.append(time.perf_counter() - t0)
                assert rebuilt.lost is None and rebuilt.room.seq == n
            figures[label] = statistics.median(samples) * 1000
        return figures
    finally:
        for s in opened:
            if not getattr(s, "closed", False):
                await s.close()
        if redis_ctx:
            redis_ctx.__exit__(None, None, None)


# -- 3. the store alone ---------------------------------------------------------------------------
def _fsync_ms(directory: Path, n: int = 200) -> float:
    """Median time of a 100-byte write + fsync in ``directory`` (what a durable commit waits for)."""
    path = directory / "fsync-probe"
    samples = []
    with path.open("wb") as f:
        for _ in range(n):
            t0 = time.perf_counter()
            f.write(b"x" * 100)
            f.flush()
            os.fsync(f.fileno())
            samples.append(time.perf_counter() - t0)
    path.unlink()
    return statistics.median(samples) * 1000


#: Seconds between two turns of the busy loop of ``--busy``.
BUSY_EVERY = 0.001


def _burn(seconds: float) -> None:
    """Keep the reactor thread running Python for ``seconds`` (a loaded node's reactor)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def measure_append(store: str, args: argparse.Namespace, tmp: Path, reactor: Any) -> dict[str, Any]:
    """The store's own cost: ``args.rooms`` rooms appending concurrently, each one batch at a
    time (as the room service does), ``args.appends`` batches per room; append latency. With
    ``args.busy``, the reactor thread is kept that busy with Python work meanwhile (a loaded
    node: the store's threads then compete with it for the interpreter)."""
    where = tmp / f"append-{store}"
    where.mkdir(parents=True, exist_ok=True)
    redis_ctx = _redis(where, args.server_cpus) if store == "redis" else None
    redis = redis_ctx.__enter__() if redis_ctx else None
    s = await open_store(redis.url if redis else store, reactor, data_dir=where)
    hist = HdrHistogram(1, 60_000_000, 3)
    epoch = 1_700_000_000_000
    try:
        rooms = [f"a{i}" for i in range(args.rooms)]
        for room in rooms:
            await s.create(room, "arena", {}, epoch, {"members": {}, "players": {}})

        async def one_room(room: str) -> None:
            for seq in range(1, args.appends + 1):  # two acks a batch, of the room's members in turn
                acks = tuple((f"m{(seq * 2 + k) % args.producers}", seq * 10 + k) for k in range(2))
                t0 = time.perf_counter()
                await s.append(Batch(room, epoch, seq, _event_ops(seq), None, acks))
                hist.record_value(max(1, int((time.perf_counter() - t0) * 1e6)))

        busy = task.LoopingCall(_burn, args.busy * BUSY_EVERY) if args.busy else None
        if busy is not None:
            busy.clock = reactor
            busy.start(BUSY_EVERY)
        started, cpu = time.monotonic(), time.process_time()
        try:
            await defer.gatherResults([defer.ensureDeferred(one_room(r)) for r in rooms])
        finally:
            if busy is not None:
                busy.stop()
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        return {
            "store": store,
            "busy": args.busy,
            "appends/s": args.rooms * args.appends / elapsed,
            "cpu_us": cpu / (args.rooms * args.appends) * 1e6,
            "p50": hist.get_value_at_percentile(50) / 1000,
            "p99": hist.get_value_at_percentile(99) / 1000,
            "max": hist.get_max_value() / 1000,
        }
    finally:
        await s.close()
        if redis_ctx:
            redis_ctx.__exit__(None, None, None)


# -- the command ----------------------------------------------------------------------------------
def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(title for title, _, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, rule]
    for row in rows:
        lines.append(
            "| " + " | ".join(format(row[key], fmt) if fmt else str(row[key]) for _, key, fmt in columns) + " |"
        )
    return "\n".join(lines)


async def run(reactor: Any, args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kasagi-store-bench-"))
    try:
        await _run(reactor, args, tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


async def _run(reactor: Any, args: argparse.Namespace, tmp: Path) -> None:
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if args.client_cpus:
        os.sched_setaffinity(0, {int(c) for c in args.client_cpus.split(",")})
    print(
        f"# kasagi store bench: server cpus {args.server_cpus}, load generator cpus {args.client_cpus}, data in {tmp}"
    )
    if not args.skip_load:
        rows = []
        for rnd in range(args.rounds):
            for store in stores:
                row = await measure_load(store, args, tmp / f"r{rnd}", reactor)
                rows.append(row)
                figures = f"p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, {row['acked/s']:.0f} acks/s"
                print(f"  load A, round {rnd + 1}, {store}: {figures}", flush=True)
        load = f"{args.rooms} rooms x {args.clients} clients x {args.rate:g} Hz"
        print(f"\n## act -> ack at load A ({load}), {args.duration:g} s window\n")
        print(
            _table(
                rows,
                [
                    ("store", "store", ""),
                    ("acked/s", "acked/s", ".0f"),
                    ("p50 ms", "p50", ".1f"),
                    ("p90 ms", "p90", ".1f"),
                    ("p99 ms", "p99", ".1f"),
                    ("max ms", "max", ".1f"),
                    ("refused", "refused", "d"),
                    ("errors", "errors", "d"),
                    ("server CPU %", "server_cpu", ".0f"),
                    ("server RSS MiB", "server_rss", ".0f"),
                    ("generator CPU %", "gen_cpu", ".0f"),
                ],
            )
        )
    if not args.skip_append:
        if args.server_cpus:
            os.sched_setaffinity(0, {int(c) for c in args.server_cpus.split(",")})
        rows = [await measure_append(store, args, tmp, reactor) for store in stores]
        fsync = _fsync_ms(tmp)
        print(
            f"\n## the store alone: {args.rooms} rooms appending at once, one batch in flight per room, "
            f"{args.appends} batches each, two acks a batch of {args.producers} members in turn, "
            f"reactor thread {args.busy:.0%} busy "
            f"(fsync of this disk: {fsync:.2f} ms median)\n"
        )
        print(
            _table(
                rows,
                [
                    ("store", "store", ""),
                    ("appends/s", "appends/s", ".0f"),
                    ("CPU us/append", "cpu_us", ".0f"),
                    ("p50 ms", "p50", ".2f"),
                    ("p99 ms", "p99", ".2f"),
                    ("max ms", "max", ".1f"),
                ],
            )
        )
    if not args.skip_reload:
        if args.server_cpus:
            os.sched_setaffinity(0, {int(c) for c in args.server_cpus.split(",")})
        rows = []
        for store in stores:
            rows.append(await measure_reload(store, args, tmp, reactor))
            print(f"  reload {store}: {rows[-1]}", flush=True)
        print(f"\n## reload (load + rebuild) of a room with {args.events} events of history, median of {args.repeat}\n")
        print(
            _table(
                rows,
                [
                    ("store", "store", ""),
                    ("snapshot 500 before head, ms", "tail 500", ".1f"),
                    ("no snapshot (replay all), ms", "tail 100k", ".1f"),
                    ("fill time (s)", "fill tail 100k s", ".1f"),
                ],
            )
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kasagi.bench.store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--drain", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the load comparison (stores interleaved)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=100_000, help="history of the reloaded room")
    parser.add_argument("--repeat", type=int, default=5, help="reloads per case (median)")
    parser.add_argument("--server-cpus", default="0", help="taskset cpus of the node and Redis ('' = no pinning)")
    parser.add_argument("--client-cpus", default="1", help="cpus of this process, the load generator ('' = no pinning)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-reload", action="store_true")
    parser.add_argument("--skip-append", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--appends", type=int, default=500, help="batches per room in the store-alone run")
    parser.add_argument(
        "--producers", type=int, default=2, help="members per room whose acks the store-alone run's batches carry"
    )
    parser.add_argument(
        "--busy",
        type=float,
        default=0.0,
        help="fraction of the reactor thread kept busy with Python work during the store-alone run (0-0.95)",
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.busy <= 0.95:
        parser.error("--busy takes a fraction from 0 to 0.95")
    if args.producers < 1:
        parser.error("--producers takes a whole number of at least 1")
    args.server_cpus = args.server_cpus or None
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args)))


if __name__ == "__main__":
    main()
