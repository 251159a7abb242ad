"""The scale-out tests' workload: members acting in a ``doc`` room under the keyed convention
of :mod:`kasagi.testing_history` (``set ["log", "<member>:<cseq>"] = n``), every outcome
recorded in a :class:`~kasagi.testing_history.History`."""

from __future__ import annotations

from typing import Any

from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor, task

from kasagi.testing_history import History, effect_key


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
