"""An overload generator: arena rooms driven past their capacity, and what became of every move.

``python -m kasagi.bench.overload --port P --out FILE [options]`` opens ``--rooms`` arena
rooms with ``--clients`` members each (the bench's lean WAMP client, msgpack), every member
subscribed to its room, and runs three phases against the node:

1. **ramp**: steps of a rising per-member rate (``--ramp-rates``, each ``--step`` seconds, the
   first ``--step-warmup`` of them not measured) until a step refuses more than 1% of its
   moves or its p99 is above ``--p99-ms``. The *capacity* is the highest accepted moves/s of
   a step that passed.
2. **overload**: ``--factor`` x the capacity offered for ``--overload`` seconds.
3. **tail**: ``--tail-fraction`` x the capacity for ``--tail`` seconds (does the node recover
   by itself?).

Each member sends ``act("move", {dx, dy, t})`` calls open-loop at its rate. A move refused
with ``retry_after`` makes its member hold its moves for that long, as a client honouring the
error does; the moves due meanwhile are counted as *held* (the member was told to wait), the
others as sent, and every sent move ends as acknowledged, refused (by URI) or timed out
(``--call-timeout``). Every acknowledged move is written to the output with its room, member,
cseq, seq and ``t``, so that the store's history can be checked against the acks.

Every loop is bounded in count and time: the phases follow a fixed schedule, joining has a
deadline, and the process stops by itself.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = ["main"]

#: Latency histogram: microseconds from 1 us to 10 minutes, 3 significant digits.
_HIST = (1, 600_000_000, 3)
#: How often the send loop looks for due moves, seconds.
SEND_EVERY = 0.005


@dataclass
class Phase:
    """What happened to the moves sent in one measured window."""

    name: str
    rate: float
    start: float
    end: float
    offered: int = 0
    sent: int = 0
    held: int = 0
    acked: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    timed_out: int = 0
    latency: HdrHistogram = field(default_factory=lambda: HdrHistogram(*_HIST))
    cpu0: float = 0.0
    cpu1: float = 0.0
    max_send_lag: float = 0.0

    def summary(self) -> dict[str, Any]:
        seconds = self.end - self.start
        refused = sum(self.refused.values())
        lat = self.latency
        return {
            "name": self.name,
            "rate_hz": self.rate,
            "seconds": seconds,
            "offered_s": self.offered / seconds,
            "sent_s": self.sent / seconds,
            "accepted_s": self.acked / seconds,
            "refused_s": refused / seconds,
            "held_s": self.held / seconds,
            "offered": self.offered,
            "sent": self.sent,
            "held": self.held,
            "acked": self.acked,
            "refused": dict(self.refused),
            "timed_out": self.timed_out,
            "unanswered": self.sent - self.acked - refused - self.timed_out,
            "p50_ms": lat.get_value_at_percentile(50) / 1000.0 if self.acked else 0.0,
            "p99_ms": lat.get_value_at_percentile(99) / 1000.0 if self.acked else 0.0,
            "max_ms": lat.get_max_value() / 1000.0 if self.acked else 0.0,
            "generator_cpu_pct": 100.0 * (self.cpu1 - self.cpu0) / seconds if self.cpu1 else 0.0,
            "max_send_lag_ms": self.max_send_lag * 1000.0,
        }


class Member:
    """One client: its connection, its sending schedule and its moves in flight."""

    def __init__(self, gen: Generator, room: str, authid: str, rng: random.Random) -> None:
        from kasagi.bench._wamp import LeanWamp

        self.gen, self.room, self.authid, self.rng = gen, room, authid, rng
        self.conn = LeanWamp(gen.host, gen.port, authid, "msgpack", on_event=self._event)
        self.act_uri = f"kasagi.room.{room}.act"
        self.next_at = float("inf")
        self.hold_until = 0.0
        self.cseq = 0
        self.in_flight = 0
        self.events = 0

    def _event(self, sub: int, args: list[Any], kwargs: dict[str, Any], details: dict[str, Any], at: float) -> None:
        self.events += 1

    def join(self) -> Any:
        conn = self.conn
        d = conn.ready
        d.addCallback(lambda _: conn.call("kasagi.lobby.open", [self.room]))
        d.addCallback(lambda _: conn.subscribe(f"kasagi.room.{self.room}"))
        d.addCallback(lambda _: conn.call(f"kasagi.room.{self.room}.join", [None]))
        return d

    def send(self, now: float, phase: Phase | None) -> None:
        if phase is not None:
            phase.offered += 1
        if now < self.hold_until:
            if phase is not None:
                phase.held += 1
            return
        self.cseq += 1
        cseq, t = self.cseq, now * 1000.0
        move = {"dx": self.rng.randint(-10, 10), "dy": self.rng.randint(-10, 10), "t": t}
        if phase is not None:
            phase.sent += 1
        self.in_flight += 1
        d = self.conn.call(self.act_uri, ["move", move, cseq])
        timer = self.gen.reactor.callLater(self.gen.call_timeout, self._timed_out, phase)
        d.addCallbacks(self._acked, self._refused, callbackArgs=(cseq, now, phase, timer), errbackArgs=(phase, timer))

    def _acked(self, result: Any, cseq: int, sent: float, phase: Phase | None, timer: Any) -> None:
        if not timer.active():
            return  # counted as timed out already
        timer.cancel()
        self.in_flight -= 1
        if phase is not None:
            phase.acked += 1
            phase.latency.record_value(max(1, int((time.time() - sent) * 1_000_000)))
        self.gen.acks.append((self.room, self.authid, cseq, int(result["seq"]), sent * 1000.0))

    def _refused(self, failure: Any, phase: Phase | None, timer: Any) -> None:
        from kasagi.bench._wamp import WampError

        if not timer.active():
            return
        timer.cancel()
        self.in_flight -= 1
        error = failure.value
        uri = error.error if isinstance(error, WampError) else type(error).__name__
        if isinstance(error, WampError):
            retry_after = error.kwargs.get("retry_after")
            if isinstance(retry_after, int | float) and retry_after > 0:
                self.hold_until = max(self.hold_until, time.time() + float(retry_after))
        if phase is not None:
            phase.refused[uri] = phase.refused.get(uri, 0) + 1

    def _timed_out(self, phase: Phase | None) -> None:
        self.in_flight -= 1
        self.gen.timed_out += 1
        if phase is not None:
            phase.timed_out += 1


class Generator:
    """The members of this process and the schedule of the phases."""

    def __init__(self, reactor: Any, args: argparse.Namespace) -> None:
        self.reactor, self.args = reactor, args
        self.host, self.port = args.host, args.port
        self.call_timeout = args.call_timeout
        rng = random.Random(args.seed)
        self.members = [
            Member(self, f"{args.prefix}{r}", f"{args.prefix}{r}m{c}", random.Random(rng.random()))
            for r in range(args.rooms)
            for c in range(args.clients)
        ]
        self.acks: list[tuple[str, str, int, int, float]] = []
        self.timed_out = 0
        self.phases: list[Phase] = []
        self.rate = 0.0
        self.current: Phase | None = None
        self.result: dict[str, Any] = {"phases": []}
        self.deadline = time.time() + args.max_seconds

    def run(self) -> None:
        from twisted.internet.task import LoopingCall

        self.reactor.callWhenRunning(self.join_all)
        self.reactor.callLater(self.args.max_seconds, self.give_up)
        self.sender = LoopingCall(self.send_due)
        self.sender.clock = self.reactor
        self.reactor.run(installSignalHandlers=False)

    def give_up(self) -> None:
        self.result["error"] = f"did not finish within {self.args.max_seconds} s"
        self.finish()

    # -- joining -------------------------------------------------------------------------------
    def join_all(self) -> None:
        from twisted.internet.defer import DeferredSemaphore, gatherResults

        from kasagi.bench._wamp import connect

        sem = DeferredSemaphore(16)

        def one(member: Member) -> Any:
            connect(self.reactor, member.conn, timeout=30)
            return member.join()

        d = gatherResults([sem.run(one, m) for m in self.members], consumeErrors=True)
        d.addCallbacks(lambda _: self.begin(), self.join_failed)

    def join_failed(self, failure: Any) -> None:
        self.result["error"] = f"joining failed: {failure.getErrorMessage()}"
        self.finish()

    def begin(self) -> None:
        self.sender.start(SEND_EVERY, now=False)
        self.ramp(list(self.args.ramp_rates), best=None)

    # -- the phases ----------------------------------------------------------------------------
    def set_rate(self, rate: float) -> None:
        now = time.time()
        self.rate = rate
        for m in self.members:
            m.next_at = now + m.rng.random() / rate if rate > 0 else float("inf")

    def measure(self, name: str, rate: float, warmup: float, seconds: float, then: Any) -> None:
        self.set_rate(rate)
        start = time.time() + warmup
        phase = Phase(name, rate, start, start + seconds)
        self.phases.append(phase)

        def open_window() -> None:
            phase.cpu0 = time.process_time()
            self.current = phase

        def close_window() -> None:
            phase.cpu1 = time.process_time()
            self.current = None
            # Answers still arriving for this window's moves are counted into it.
            self.reactor.callLater(0, then, phase)

        self.reactor.callLater(warmup, open_window)
        self.reactor.callLater(warmup + seconds, close_window)

    def ramp(self, rates: list[float], best: Phase | None) -> None:
        if not rates:
            self.after_ramp(best)
            return
        rate = rates.pop(0)

        def judge(phase: Phase) -> None:
            s = phase.summary()
            refused = sum(phase.refused.values()) + phase.held + phase.timed_out
            ok = refused <= 0.01 * max(1, phase.offered) and s["p99_ms"] <= self.args.p99_ms
            if ok and (best is None or phase.acked > best.acked):
                self.ramp(rates, phase)
            elif ok:
                self.ramp(rates, best)
            else:
                self.after_ramp(best)

        self.measure("ramp", rate, self.args.step_warmup, self.args.step, judge)

    def after_ramp(self, best: Phase | None) -> None:
        if best is None:
            self.result["error"] = "no ramp step passed"
            self.settle_then(self.finish)
            return
        capacity = best.acked / (best.end - best.start)
        self.result["capacity_s"] = capacity
        members = len(self.members)
        self.result["capacity_rate_hz"] = capacity / members
        over_rate = self.args.factor * capacity / members
        tail_rate = self.args.tail_fraction * capacity / members

        def tail(_: Phase) -> None:
            self.measure(
                "tail", tail_rate, self.args.tail_warmup, self.args.tail, lambda _: self.settle_then(self.finish)
            )

        # The overload's first seconds are measured too: goodput must hold from the start.
        self.measure("overload", over_rate, 0.0, self.args.overload, tail)

    def settle_then(self, then: Any, until: float | None = None) -> None:
        """Stop sending; wait (bounded) until every move in flight is answered or timed out."""
        self.set_rate(0.0)
        until = until or time.time() + self.call_timeout + 2.0
        if time.time() >= until or all(m.in_flight <= 0 for m in self.members):
            then()
        else:
            self.reactor.callLater(0.1, self.settle_then, then, until)

    def send_due(self) -> None:
        now = time.time()
        if self.rate <= 0:
            return
        period = 1.0 / self.rate
        phase = self.current
        for m in self.members:
            if m.next_at <= now:
                lag = now - m.next_at
                if phase is not None and lag > phase.max_send_lag:
                    phase.max_send_lag = lag
                m.send(now, phase)
                m.next_at += period
                if m.next_at < now - 1.0:
                    m.next_at = now + period  # a second behind: don't burst

    def finish(self) -> None:
        if self.sender.running:
            self.sender.stop()
        self.result["phases"] = [p.summary() for p in self.phases]
        self.result["members"] = len(self.members)
        self.result["timed_out"] = self.timed_out
        self.result["acks"] = self.acks
        with open(self.args.out, "w", encoding="utf-8") as f:
            json.dump(self.result, f)
        for m in self.members:
            m.conn.close()
        self.reactor.callLater(0.2, self.reactor.stop)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m kasagi.bench.overload", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True, help="where the JSON result goes")
    p.add_argument("--rooms", type=int, default=100)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--prefix", default="ov")
    p.add_argument("--ramp-rates", type=lambda s: [float(x) for x in s.split(",")], default=[1, 2, 3, 4, 5, 6, 8, 10])
    p.add_argument("--step", type=float, default=4.0)
    p.add_argument("--step-warmup", type=float, default=2.0)
    p.add_argument("--p99-ms", type=float, default=250.0)
    p.add_argument("--factor", type=float, default=2.0)
    p.add_argument("--overload", type=float, default=60.0)
    p.add_argument("--tail-fraction", type=float, default=0.25)
    p.add_argument("--tail", type=float, default=6.0)
    p.add_argument("--tail-warmup", type=float, default=4.0)
    p.add_argument("--call-timeout", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=400.0)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from twisted.internet import epollreactor

    epollreactor.install()  # type: ignore[no-untyped-call]
    from twisted.internet import reactor

    gen = Generator(reactor, args)
    gen.run()
    return 1 if "error" in gen.result else 0


if __name__ == "__main__":
    sys.exit(main())
