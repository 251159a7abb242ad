"""Clients' calls of a room's ``act`` answered by the router session that read them, where the
room service runs in this router worker (a single node; :mod:`kasagi.wamp.local_calls` says
what is called and what stays the same as through Crossbar's dealer).

The session hands the CALL to the room service's table of local calls and sends the RESULT or
ERROR through the router (``router.send``: the slow-consumer guard, one frame per message,
the router's message counters); a call the table does not take is processed by the router as
before. The router counts such a CALL as received, as it counts every message it processes.
An answer that comes after the session closed is dropped, as the dealer drops it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from kasagi.wamp.local_calls import LocalCalls, hosted

__all__ = ["install"]

log = Logger()


def install(session_class: Any, table: Callable[[], LocalCalls | None] = hosted) -> bool:
    """Make ``session_class`` (Crossbar's ``RouterSession``) answer such calls itself; False
    if it was done before. Install it before :mod:`router.early_refusal`, whose refusals then
    still come first."""
    original = session_class.onMessage
    if getattr(original, "kasagi_local_calls", False):
        return False

    def onMessage(self: Any, msg: Any) -> None:
        calls = table() if self._session_id is not None else None
        if calls is not None:
            answer = calls.call(msg, self._session_id, self._authid, self._authrole)
            if answer is not None:
                router = self._router
                _count_received(router, "call")
                answer.addCallback(_send, self, router).addErrback(
                    lambda f: log.failure("answering a local call of {uri} failed", f, uri=msg.procedure)
                )
                return
        original(self, msg)

    onMessage.kasagi_local_calls = True  # type: ignore[attr-defined]
    session_class.onMessage = onMessage
    return True


def _send(reply: Any, session: Any, router: Any) -> None:
    if session._transport is not None and router is not None:
        router.send(session, reply)


def _count_received(router: Any, kind: str) -> None:
    """What ``router.process`` counts for each message it processes (Crossbar's statistics)."""
    stats = getattr(router, "_message_stats", None)
    if stats is not None:
        received = stats["received"]
        received[kind] = received.get(kind, 0) + 1
