"""The scale-out tests' workload: members acting in a ``doc`` room under the keyed convention
of :mod:`kasagi.testing.history` (``set ["log", "<member>:<cseq>"] = n``), every outcome
recorded in a :class:`~kasagi.testing.history.History`."""

from __future__ import annotations

from typing import Any

from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor, task

from kasagi.testing.history import History, effect_key


@defer.inlineCallbacks
def drive(history: History, handle: Any, member: str, *, actions: int, stop: list[bool], pace: float = 0.05):  # type: ignore[no-untyped-def]
    """Send up to ``actions`` keyed actions one after another, recording each outcome."""
    for n in range(actions):
        if stop[0]:
            return
        cseq = handle.next_cseq()
        call = history.invoke(member, handle.room, member, cseq)
        try:
            ack = yield handle.act("set", {"path": ["log", effect_key(member, cseq)], "value": n}, cseq=cseq)
        except ApplicationError as exc:
            history.fail(call, exc.error)
        except Exception as exc:  # noqa: BLE001 -- a timeout or a lost connection: undetermined
            history.info(call, repr(exc))
        else:
            history.ok(call, ack["seq"])
        yield task.deferLater(reactor, pace, lambda: None)  # the workload's rate, not a wait


class KeyedRun:
    """Members of one ``doc`` room (one client each) acting with :func:`drive`, everything they
    apply and every outcome recorded in one :class:`History`."""

    def __init__(self, room: str, members: list[str], clients: list[Any]) -> None:
        self.room = room
        self.members = members
        self.clients = clients
        self.history = History()
        self.handles: dict[str, Any] = {}
        self._stop = [False]
        self._streams: list[defer.Deferred[Any]] = []

    @defer.inlineCallbacks
    def join(self):  # type: ignore[no-untyped-def]
        for member, client in zip(self.members, self.clients, strict=True):
            self.handles[member] = yield client.join(self.room, "doc")
            self.history.track(member, self.handles[member])

    @property
    def epoch(self) -> int:
        return int(self.handles[self.members[0]].epoch)

    def start(self, actions: int = 60) -> None:
        """Every member starts sending up to ``actions`` actions."""
        self._streams = [
            drive(self.history, self.handles[m], m, actions=actions, stop=self._stop) for m in self.members
        ]

    def acked(self, member: str | None = None) -> int:
        return sum(1 for c in self.history.by_outcome("ok") if member in (None, c.member))

    def left_epoch(self, epoch: int) -> bool:
        """Whether every member has applied something of another epoch (a takeover seen)."""
        return all(self.history.first_applied_after_epoch(m, self.room, epoch) for m in self.members)

    def takeover_s(self, epoch: int, since: float) -> float:
        """How long after ``since`` the last member saw another epoch."""
        seen = [self.history.first_applied_after_epoch(m, self.room, epoch) for m in self.members]
        return max(t for t in seen if t is not None) - since

    @defer.inlineCallbacks
    def stop(self):  # type: ignore[no-untyped-def]
        """Stop sending; fires when every member's last action has ended."""
        self._stop[0] = True
        yield defer.gatherResults(self._streams)

    @defer.inlineCallbacks
    def close(self):  # type: ignore[no-untyped-def]
        for client in self.clients:
            yield client.close()
