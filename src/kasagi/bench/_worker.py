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
from typing import Any

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
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    from twisted.internet.defer import DeferredSemaphore, gatherResults
    from twisted.internet.protocol import ClientFactory

    from kasagi.bench._bot import Bot, Tally
    from kasagi.bench._wamp import LeanWamp

    host, port = spec["host"], spec["port"]
    tally = Tally()
    bots = [
        Bot(
            reactor,
            tally,
            room=room,
            authid=authid,
            seed=seed,
            input_path=spec["input_path"],
            validating=spec["validating"],
        )
        for room, authid, seed in spec["bots"]
    ]
    send_lock = threading.Lock()

    def send(kind: str, payload: Any) -> None:
        with send_lock:
            conn.send((kind, payload))

    class _Factory(ClientFactory):
        def __init__(self, proto: LeanWamp) -> None:
            self.proto = proto

        def buildProtocol(self, addr: Any) -> LeanWamp:
            return self.proto

        def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
            if not self.proto.ready.called:
                self.proto.ready.errback(reason)

    failures: list[str] = []
    failed = [0]
    joined = [0]

    def join_one(bot: Bot) -> Any:
        proto = LeanWamp(host, port, bot.authid, spec["serializer"])
        bot.attach(proto)
        reactor.connectTCP(host, port, _Factory(proto), timeout=30)
        d = proto.ready.addCallback(lambda _: bot.join())

        def ok(_: Any) -> None:
            joined[0] += 1

        def bad(f: Any) -> None:
            failed[0] += 1
            if len(failures) < 5:
                failures.append(f"{bot.authid}: {f.getErrorMessage()}")

        return d.addCallbacks(ok, bad)

    sem = DeferredSemaphore(spec.get("join_concurrency", 16))

    def join_all() -> None:
        deadline = reactor.callLater(spec["join_timeout"], lambda: send_joined(timed_out=True))
        ds = [sem.run(join_one, bot) for bot in bots]

        def finished(_: Any) -> None:
            if deadline.active():
                deadline.cancel()
                wait_for_players(time.time() + 30.0)

        def wait_for_players(until: float) -> None:
            # A joined bot sees its own player in the event after its join reply.
            if time.time() >= until or all(b.expected is not None for b in bots if b.synced):
                send_joined(timed_out=False)
            else:
                reactor.callLater(0.05, wait_for_players, until)

        gatherResults(ds).addBoth(finished)

    reported = [False]

    def send_joined(timed_out: bool) -> None:
        if reported[0]:
            return
        reported[0] = True
        # A bot that has not seen its own player yet cannot move.
        ready = sum(1 for b in bots if b.synced and b.expected is not None)
        send(
            "joined",
            {
                "clients": len(bots),
                "joined": joined[0],
                "ready": ready,
                "timed_out": timed_out,
                "failed": failed[0],
                "failures": failures,
            },
        )

    def progress() -> None:
        send(
            "progress",
            {"sent": tally.sent, "accepted": tally.accepted, "deliveries": tally.deliveries, "joined": joined[0]},
        )

    def run_step(step: dict[str, Any]) -> None:
        tally.__init__()  # type: ignore[misc]
        t0 = step["t0"]
        start, end = t0 + step["warmup"], t0 + step["warmup"] + step["measure"]
        tally.start_ms, tally.end_ms = start * 1000.0, end * 1000.0
        bytes0: list[int] = []
        bytes1: list[int] = []
        for bot in bots:
            bot.violations.clear()
            bot.start_moving(step["rate"], t0, end)

        def mark(into: list[int]) -> None:
            into.append(sum(b.conn.bytes_read for b in bots if b.conn is not None))

        reactor.callLater(max(0.0, start - time.time()), mark, bytes0)
        reactor.callLater(max(0.0, end - time.time()), mark, bytes1)
        reactor.callLater(max(0.0, end + step["drain"] - time.time()), finish_step, end, bytes0, bytes1)

    def finish_step(end: float, bytes0: list[int], bytes1: list[int]) -> None:
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
        send(
            "result",
            {
                "sent": tally.sent,
                "sent_valid": tally.sent_valid,
                "accepted": tally.accepted,
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

    def control() -> None:
        # Reads the parent's commands (a thread: the pipe is not a reactor file descriptor).
        while True:
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                kind, payload = "stop", None
            if kind == "step":
                reactor.callFromThread(run_step, payload)
            else:
                reactor.callFromThread(shutdown)
                return

    def shutdown() -> None:
        for bot in bots:
            bot.stop_moving()
            if bot.conn is not None:
                bot.conn.close()
        reactor.callLater(0.5, reactor.stop)

    from twisted.internet.task import LoopingCall

    ticker = LoopingCall(progress)
    ticker.clock = reactor
    reactor.callWhenRunning(join_all)
    reactor.callWhenRunning(lambda: ticker.start(0.5, now=False))
    threading.Thread(target=control, daemon=True).start()
    reactor.run(installSignalHandlers=False)
