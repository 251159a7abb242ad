"""Measure what a second router buys: the room-sync workload's load A shape (10 rooms x 10
clients, arena moves) against 1 router and against 2 routers, same workers and Redis.

``python -m kasagi.bench.cluster [--rates 5,10,20,...] [--repeats 2]`` starts each
topology as local processes (:class:`~kasagi.testing.topology.Topology`: routers pinned with
``taskset`` -- 1 router on core 0, 2 routers on cores 0 and 1 -- workers, Redis and the load
generator unpinned), offers each rate for a warm-up and a measured window, and prints, per
configuration and rate: offered and accepted moves/s, deliveries/s (player updates received
by all clients), delivery latency p50/p99 (receipt - the move's ``t``), and the CPU of the
routers, the workers and the generator. Clients alternate between the routers.

This is a minimal load driver written for this comparison, on the benchmark's lean WAMP
client (:mod:`kasagi.bench._wamp`, msgpack); ``kasagi bench`` is the project's full
benchmark. The machine has 2 cores shared by everything, so the figures say how the
configurations compare here, not what either does on dedicated hardware.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twisted.python.failure import Failure

__all__ = ["main"]

ROOMS, CLIENTS = 10, 10


# -- the generator process ------------------------------------------------------------------------
class _Load:
    """The generator's counts and latencies over its measured window."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tally = {"accepted": 0, "refused": 0, "deliveries": 0, "sent": 0, "ready": 0}
        self.latencies: list[float] = []
        t0 = time.time() * 1000
        self.start: float = t0 + args.warmup * 1000
        self.end: float = t0 + (args.warmup + args.measure) * 1000
        self.rng = random.Random(args.seed)
        #: This process's CPU time once its bots are started (set by the generator).
        self.cpu0 = 0.0

    def measured(self, now: float) -> bool:
        return self.start <= now < self.end

    def on_event(self, _sub: int, event_args: list[Any], _kwargs: Any, _details: Any, now: float) -> None:
        if not self.measured(now):
            return
        for op in event_args[0].get("ops", []):
            if op[0] == "set" and len(op[1]) == 2 and op[1][0] == "players":
                self.tally["deliveries"] += 1
                t = op[2].get("t") if isinstance(op[2], dict) else None
                if t:
                    self.latencies.append(now - t)

    def failed(self, failure: Failure, what: str) -> None:
        from kasagi.bench._wamp import WampError

        if what == "act" and failure.check(WampError):
            self.tally["refused"] += 1
        else:
            print(f"error on {what}: {failure.getErrorMessage()}", file=sys.stderr)

    def accepted(self, _: object) -> None:
        if self.measured(time.time() * 1000):
            self.tally["accepted"] += 1

    def summary(self) -> dict[str, Any]:
        """The tally, delivery latency p50/p99/max (ms) and this process's CPU share."""
        p = sorted(self.latencies)

        def pct(q: float) -> float:
            return float(p[min(len(p) - 1, int(q * len(p)))]) if p else float("nan")

        return {
            **self.tally,
            "p50": pct(0.5),
            "p99": pct(0.99),
            "max": p[-1] if p else float("nan"),
            "cpu": (time.process_time() - self.cpu0) / (self.args.warmup + self.args.measure),
        }


def _generator(args: argparse.Namespace) -> int:
    from twisted.internet import reactor, task

    from kasagi.bench._wamp import LeanWamp, connect

    urls: list[str] = args.urls.split(",")
    load = _Load(args)
    tally = load.tally

    def bot(url: str, room: str, authid: str) -> None:
        """One client: open the room, subscribe, join, then move at ``--rate``."""
        host, _, rest = url.split("//")[1].partition("/")
        name, port = host.split(":")
        wamp = LeanWamp(name, int(port), authid, "msgpack", on_event=load.on_event, path="/" + rest)
        cseq = int(time.time() * 1_000_000)

        def move() -> None:
            nonlocal cseq
            cseq += 1
            now = time.time() * 1000
            if load.measured(now):
                tally["sent"] += 1
            step = {"dx": load.rng.randint(-10, 10), "dy": load.rng.randint(-10, 10), "t": now}
            wamp.call(f"kasagi.room.{room}.act", ["move", step, cseq]).addCallbacks(
                load.accepted, load.failed, errbackArgs=("act",)
            )

        def joined(_: object) -> None:
            tally["ready"] += 1
            if args.rate > 0:
                task.LoopingCall(move).start(1.0 / args.rate, now=False).addErrback(load.failed, "the mover")

        d = wamp.ready
        d.addCallback(lambda _: wamp.call("kasagi.lobby.open", [room, "arena", {}]))
        d.addCallback(lambda _: wamp.subscribe(f"kasagi.room.{room}"))
        d.addCallback(lambda _: wamp.call(f"kasagi.room.{room}.join", [None]))
        d.addCallbacks(joined, load.failed, errbackArgs=(f"{authid} joining {room}",))
        connect(reactor, wamp)

    per_room = args.per_room
    for i in range(args.first, args.first + args.count):
        room, member = i // per_room, i % per_room
        bot(urls[i % len(urls)], f"load_{room}", f"bot_{room}_{member}")
    load.cpu0 = time.process_time()

    def finish() -> None:
        print(json.dumps(load.summary()), flush=True)
        reactor.stop()

    reactor.callLater(args.warmup + args.measure + 0.5, finish)
    reactor.run()
    return 0


# -- the orchestrator -----------------------------------------------------------------------------
def _cpu_of(pids: Sequence[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            times = proc.cpu_times()
            total += times.user + times.system
            for child in proc.children(recursive=True):
                ct = child.cpu_times()
                total += ct.user + ct.system
        except psutil.Error:
            continue
    return total


def _run_point(topo: Any, rate: float, warmup: float, measure: float, generators: int) -> dict[str, Any]:
    per = ROOMS * CLIENTS // generators
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    procs = [
        subprocess.Popen(  # noqa: S603 -- our own module, our own arguments
            [
                sys.executable,
                "-m",
                "kasagi.bench.cluster",
                "generate",
                "--urls",
                ",".join(topo.urls),
                "--first",
                str(g * per),
                "--count",
                str(per),
                "--rate",
                str(rate),
                "--warmup",
                str(warmup),
                "--measure",
                str(measure),
                "--seed",
                str(g),
            ],
            stdout=subprocess.PIPE,
            env=env,
        )
        for g in range(generators)
    ]
    routers = [p for node in topo.nodes for p in node.pids()]
    workers = [w.proc.pid for w in topo.members if w.proc is not None]
    time.sleep(warmup)  # the measured window starts here (the generators keep their own clocks)
    r0, w0 = _cpu_of(routers), _cpu_of(workers)
    time.sleep(measure)
    r1, w1 = _cpu_of(routers), _cpu_of(workers)
    results = [
        json.loads(p.communicate(timeout=warmup + measure + 60)[0].decode().strip().splitlines()[-1]) for p in procs
    ]
    out: dict[str, Any] = {"rate": rate, "offered": ROOMS * CLIENTS * rate}
    for key in ("accepted", "refused", "deliveries", "sent", "ready"):
        out[key] = sum(r[key] for r in results)
    out["accepted_per_s"] = out["accepted"] / measure
    out["deliveries_per_s"] = out["deliveries"] / measure
    out["p50_ms"] = statistics.median(r["p50"] for r in results)
    out["p99_ms"] = max(r["p99"] for r in results)
    out["router_cpu"] = (r1 - r0) / measure
    out["worker_cpu"] = (w1 - w0) / measure
    out["generator_cpu"] = sum(r["cpu"] for r in results)
    return out


def _idle(args: argparse.Namespace) -> int:
    """Router RSS before and after ``--clients`` idle clients joined rooms of 50 (load point
    E's shape), one router, one worker, 4 generator processes."""
    import psutil

    from kasagi.testing.topology import Topology

    per_gen = args.clients // 4
    with tempfile.TemporaryDirectory(prefix="kasagi-idle-") as tmp:
        topo = Topology(Path(tmp), routers=1, workers=1, service={"tick": 0.02})
        topo.start()
        try:
            pids = topo.nodes[0].pids()

            def rss() -> int:
                return sum(psutil.Process(p).memory_info().rss for p in pids if psutil.pid_exists(p))

            before = rss()
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
            hold = 20.0
            procs = [
                subprocess.Popen(  # noqa: S603 -- our own module, our own arguments
                    [
                        *(sys.executable, "-m", "kasagi.bench.cluster", "generate", "--urls", ",".join(topo.urls)),
                        *("--first", str(g * per_gen), "--count", str(per_gen), "--rate", "0", "--per-room", "50"),
                        *("--warmup", str(hold), "--measure", "1"),
                    ],
                    stdout=subprocess.PIPE,
                    env=env,
                )
                for g in range(4)
            ]
            time.sleep(hold - 2)  # the clients connect and join meanwhile; they stay until hold + 1
            after = rss()
            ready = sum(
                json.loads(p.communicate(timeout=60)[0].decode().strip().splitlines()[-1])["ready"] for p in procs
            )
        finally:
            topo.stop()
    print(
        f"router RSS {before / 2**20:.0f} MiB -> {after / 2**20:.0f} MiB with {ready} idle joined clients: "
        f"{(after - before) / max(ready, 1) / 1024:.1f} KiB per client"
    )
    return 0


def _orchestrate(args: argparse.Namespace) -> int:
    from kasagi.testing.topology import Topology

    rates = [float(r) for r in args.rates.split(",")]
    configs = {1: ["0"], 2: ["0", "1"]}
    table: dict[tuple[int, float], list[dict[str, Any]]] = {}
    for repeat in range(args.repeats):
        for routers in (1, 2):
            with tempfile.TemporaryDirectory(prefix="kasagi-measure-") as tmp:
                topo = Topology(
                    Path(tmp),
                    routers=routers,
                    workers=args.workers,
                    service={"tick": 0.02},
                    router_cpus=configs[routers],
                )
                topo.start()
                try:
                    for rate in rates:
                        point = _run_point(topo, rate, args.warmup, args.measure, args.generators)
                        table.setdefault((routers, rate), []).append(point)
                        print(f"repeat {repeat} routers {routers} " + json.dumps(point), flush=True)
                finally:
                    topo.stop()
    print(
        "\nrouters  rate/client  offered/s  accepted/s  deliveries/s  p50 ms  p99 ms  router CPU  worker CPU  gen CPU"
    )
    for (routers, rate), points in sorted(table.items()):

        def med(key: str, pts: list[dict[str, Any]] = points) -> float:
            return float(statistics.median(p[key] for p in pts))

        print(
            f"{routers:>7}  {rate:>11g}  {med('offered'):>9.0f}  {med('accepted_per_s'):>10.0f}  "
            f"{med('deliveries_per_s'):>12.0f}  {med('p50_ms'):>6.1f}  {med('p99_ms'):>6.1f}  "
            f"{med('router_cpu'):>9.0%}  {med('worker_cpu'):>10.0%}  {med('generator_cpu'):>7.0%}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kasagi.bench.cluster", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("generate", help="(internal) one load generator process")
    gen.add_argument("--urls", required=True)
    gen.add_argument("--first", type=int, required=True)
    gen.add_argument("--count", type=int, required=True)
    gen.add_argument("--rate", type=float, required=True)
    gen.add_argument("--warmup", type=float, required=True)
    gen.add_argument("--measure", type=float, required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--per-room", type=int, default=CLIENTS)
    idle = sub.add_parser("idle", help="router memory per idle joined client")
    idle.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rates", default="5,10,20,30,40", help="moves per second per client, one point each")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--measure", type=float, default=10.0)
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "generate":
        return _generator(args)
    if args.command == "idle":
        return _idle(args)
    return _orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
