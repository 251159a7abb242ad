"""A load generator process: runs a share of the bots on its own reactor.

The parent talks to it over a ``multiprocessing`` pipe:

- parent -> worker: ``("step", {...})`` runs one measured step; ``("stop", None)`` ends it;
- worker -> parent: ``("joined", {...})`` once its bots follow their rooms,
  ``("progress", {...})`` twice a second, ``("result", {...})`` after each step's drain,
  ``("error", text)`` if it cannot go on.

Every wait is bounded: joining has a deadline, a step ends by its own schedule, and the
worker exits when the pipe closes.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kasagi.bench._bot import Bot

__all__ = ["worker_main"]


def _pin(cpus: set[int] | None) -> None:
    if cpus:
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            pass


def worker_main(conn: Any, spec: dict[str, Any]) -> None:
    """Entry point of a generator process (``multiprocessing`` target)."""
    _pin(spec.get("cpus"))
    try:
        if spec.get("generator") == "node":
            from kasagi.bench._node import run_node_worker

            run_node_worker(conn, spec)
        else:
            _run(conn, spec)
    except Exception:  # noqa: BLE001 -- the parent must hear why its worker died
        conn.send(("error", traceback.format_exc()))


def _run(conn: Any, spec: dict[str, Any]) -> None:
    from twisted.internet import epollreactor

    epollreactor.install()  # type: ignore[no-untyped-call]
    from twisted.internet import reactor

    _Generator(reactor, conn, spec).run()


class _Generator:
    """This process's bots on its reactor, and what it tells the parent about them."""

    def __init__(self, reactor: Any, conn: Any, spec: dict[str, Any]) -> None:
        from kasagi.bench._bot import Bot, Tally

        self.reactor, self.conn, self.spec = reactor, conn, spec
        self.tally = Tally()
        self.bots = [
            Bot(
                reactor,
                self.tally,
                room=room,
                authid=authid,
                seed=seed,
                input_path=spec["input_path"],
                validating=spec["validating"],
                window=spec.get("window", 0),
            )
            for room, authid, seed in spec["bots"]
        ]
        self.send_lock = threading.Lock()
        self.failures: list[str] = []
        self.failed = 0
        self.joined = 0
        self.reported = False

    def run(self) -> None:
        from twisted.internet.task import LoopingCall

        ticker = LoopingCall(self.progress)
        ticker.clock = self.reactor
        self.reactor.callWhenRunning(self.join_all)
        self.reactor.callWhenRunning(lambda: ticker.start(0.5, now=False))
        threading.Thread(target=self.control, daemon=True).start()
        self.reactor.run(installSignalHandlers=False)

    def send(self, kind: str, payload: Any) -> None:
        with self.send_lock:
            self.conn.send((kind, payload))

    # -- joining -------------------------------------------------------------------------------
    def join_one(self, bot: Bot) -> Any:
        from kasagi.bench._wamp import LeanWamp, connect

        proto = LeanWamp(self.spec["host"], self.spec["port"], bot.authid, self.spec["serializer"])
        bot.attach(proto)
        connect(self.reactor, proto, timeout=30)
        d = proto.ready.addCallback(lambda _: bot.join())

        def ok(_: Any) -> None:
            self.joined += 1

        def bad(f: Any) -> None:
            self.failed += 1
            if len(self.failures) < 5:
                self.failures.append(f"{bot.authid}: {f.getErrorMessage()}")

        return d.addCallbacks(ok, bad)

    def join_all(self) -> None:
        from twisted.internet.defer import DeferredSemaphore, gatherResults

        sem = DeferredSemaphore(self.spec.get("join_concurrency", 16))
        deadline = self.reactor.callLater(self.spec["join_timeout"], lambda: self.send_joined(timed_out=True))
        ds = [sem.run(self.join_one, bot) for bot in self.bots]

        def finished(_: Any) -> None:
            if deadline.active():
                deadline.cancel()
                self.wait_for_players(time.time() + 30.0)

        gatherResults(ds).addBoth(finished)

    def wait_for_players(self, until: float) -> None:
        # A joined bot sees its own player in the event after its join reply.
        if time.time() >= until or all(b.expected is not None for b in self.bots if b.synced):
            self.send_joined(timed_out=False)
        else:
            self.reactor.callLater(0.05, self.wait_for_players, until)

    def send_joined(self, timed_out: bool) -> None:
        if self.reported:
            return
        self.reported = True
        # A bot that has not seen its own player yet cannot move.
        ready = sum(1 for b in self.bots if b.synced and b.expected is not None)
        self.send(
            "joined",
            {
                "clients": len(self.bots),
                "joined": self.joined,
                "ready": ready,
                "timed_out": timed_out,
                "failed": self.failed,
                "failures": self.failures,
            },
        )

    def progress(self) -> None:
        tally = self.tally
        self.send(
            "progress",
            {"sent": tally.sent, "accepted": tally.accepted, "deliveries": tally.deliveries, "joined": self.joined},
        )

    # -- steps ---------------------------------------------------------------------------------
    def run_step(self, step: dict[str, Any]) -> None:
        self.tally.__init__()  # type: ignore[misc]
        t0 = step["t0"]
        start, end = t0 + step["warmup"], t0 + step["warmup"] + step["measure"]
        self.tally.start_ms, self.tally.end_ms = start * 1000.0, end * 1000.0
        bytes0: list[int] = []
        bytes1: list[int] = []
        for bot in self.bots:
            bot.violations.clear()
            bot.start_moving(step["rate"], t0, end)
        reactor = self.reactor
        reactor.callLater(max(0.0, start - time.time()), self.mark_bytes, bytes0)
        reactor.callLater(max(0.0, end - time.time()), self.mark_bytes, bytes1)
        reactor.callLater(max(0.0, end + step["drain"] - time.time()), self.finish_step, end, bytes0, bytes1)

    def mark_bytes(self, into: list[int]) -> None:
        into.append(sum(b.conn.bytes_read for b in self.bots if b.conn is not None))

    def finish_step(self, end: float, bytes0: list[int], bytes1: list[int]) -> None:
        bots, tally = self.bots, self.tally
        for bot in bots:
            bot.stop_moving()
            bot.settle(end * 1000.0)
        violations: dict[str, int] = {}
        violating = 0
        for bot in bots:
            if bot.violations:
                violating += 1
            for k, v in bot.violations.items():
                violations[k] = violations.get(k, 0) + v
        self.send(
            "result",
            {
                "sent": tally.sent,
                "sent_valid": tally.sent_valid,
                "accepted": tally.accepted,
                "throttled": tally.throttled,
                "held": tally.held,
                "deliveries": tally.deliveries,
                "messages_in": tally.messages_in,
                "bytes": (bytes1[0] - bytes0[0]) if bytes0 and bytes1 else 0,
                "latency": tally.latency.encode().decode("ascii"),
                "violations": violations,
                "violating_clients": violating,
                "late_sends": tally.late_sends,
                "max_send_lag_ms": tally.max_send_lag_ms,
                "gaps_repaired": sum(b.stats["gaps_repaired"] for b in bots),
                "moving": sum(1 for b in bots if b.expected is not None),
            },
        )

    # -- the parent's commands -----------------------------------------------------------------
    def control(self) -> None:
        # Reads the parent's commands (a thread: the pipe is not a reactor file descriptor).
        while True:
            try:
                kind, payload = self.conn.recv()
            except (EOFError, OSError):
                kind, payload = "stop", None
            if kind == "step":
                self.reactor.callFromThread(self.run_step, payload)
            else:
                self.reactor.callFromThread(self.shutdown)
                return

    def shutdown(self) -> None:
        for bot in self.bots:
            bot.stop_moving()
            if bot.conn is not None:
                bot.conn.close()
        self.reactor.callLater(0.5, self.reactor.stop)
