"""Writers for crash runs: clients acting at a steady rate, recording everything in a History.

Each writer's action ``cseq`` sets a path of its own to the value ``cseq`` (cycling through
:data:`SLOTS` keys per writer, so the state stays small): :func:`slot_effects` reads back from
an event which actions it carries.
"""

from __future__ import annotations

import random
from typing import Any

from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from kasagi.client import ClientOptions, KasagiClient
from kasagi.core.room import StreamPosition
from kasagi.testing.history import History

#: Paths cycle through this many keys per writer (keeps the state small).
SLOTS = 64


def action_path(member: str, cseq: int) -> list[str]:
    return ["w", member, str(cseq % SLOTS)]


def slot_effects(event: Any) -> list[tuple[str, int]]:
    """The actions an event carries: each ``set ["w", member, slot] = cseq``."""
    found = []
    for op in event.get("ops", []):
        path = op[1] if len(op) > 1 else None
        if op[0] == "set" and isinstance(path, list) and len(path) == 3 and path[0] == "w":
            found.append((str(path[1]), int(op[2])))
    return found


class Writer:
    """One member in the room: acts ``rate`` times a second, at most ``max_inflight`` at once."""

    def __init__(self, member: str, history: History, *, rate: float = 20.0, max_inflight: int = 20) -> None:
        self.member = member
        self.history = history
        self.rate = rate
        self.max_inflight = max_inflight
        self.client: KasagiClient | None = None
        self.handle: Any = None
        self.room = ""
        self.inflight = 0
        self.acked = 0
        self._loop: LoopingCall | None = None
        self._stopping = False
        self._done: list[defer.Deferred[None]] = []

    @defer.inlineCallbacks
    def connect(self, url: str, room: str):  # type: ignore[no-untyped-def]
        options = ClientOptions(call_timeout=5.0, act_deadline=45.0, max_retry_delay=1.0, connect_timeout=30.0)
        self.client = yield KasagiClient.connect(url, self.member, options=options)
        self.room = room
        self.handle = yield self.client.join(room, "doc")
        self._record_applied()

    def _record_applied(self) -> None:
        """Log what the client's replica applies (I3): snapshots and single events."""
        replica = self.handle.replica
        member, room, history = self.member, self.room, self.history

        def snapshot(position: StreamPosition) -> None:
            history.observe(member, room, "snapshot", position.epoch, position.seq)

        def applied(event: Any) -> None:
            history.observe(member, room, "event", event["epoch"], event["seq"], event["ops"])

        history.observe(member, room, "snapshot", replica.epoch, replica.seq)
        replica.on_snapshot, replica.on_applied = snapshot, applied

    def start(self) -> None:
        """Act from now on, at a phase of its own (writers don't act in lockstep)."""
        from twisted.internet import reactor

        self._loop = loop = LoopingCall(self._tick)
        self._stopping = False

        def go() -> None:
            if not self._stopping:
                loop.start(1.0 / self.rate, now=True).addErrback(lambda f: None)

        reactor.callLater(random.uniform(0, 1.0 / self.rate), go)  # type: ignore[attr-defined]

    def stop(self) -> defer.Deferred[None]:
        """Stop acting; fires when every call made has ended."""
        self._stopping = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self.inflight == 0:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._done.append(d)
        return d

    def _tick(self) -> None:
        if self.inflight >= self.max_inflight:
            return
        cseq = self.handle.next_cseq()
        call = self.history.invoke(self.member, self.room, self.member, cseq)
        self.inflight += 1
        d = self.handle.act("set", {"path": action_path(self.member, cseq), "value": cseq}, cseq=cseq)

        def ok(ack: dict[str, Any]) -> None:
            self.history.ok(call, ack["seq"])
            self.acked += 1

        def failed(failure: Failure) -> None:
            uri = failure.value.error if isinstance(failure.value, ApplicationError) else type(failure.value).__name__
            self.history.fail(call, str(uri))

        def ended(_: object) -> None:
            self.inflight -= 1
            if self.inflight == 0 and self._done and not (self._loop and self._loop.running):
                waiting, self._done = self._done, []
                for w in waiting:
                    w.callback(None)

        d.addCallbacks(ok, failed).addBoth(ended)

    def close(self) -> defer.Deferred[None]:
        return self.client.close() if self.client is not None else defer.succeed(None)
