"""Refusing actions before they are routed, while the room service of this process is
backlogged (``kasagi.core.admission``: its reactor lags by 4 x ``overload_lag`` or more).

Every message a backlogged process reads waited that long already, so serving it only keeps
the backlog. A client's ``kasagi.room.<room>.act`` call is then answered at once, by the
router session that read it, with the same ``kasagi.error.rate_limited`` (``retry_after``) the
room service would give: no authorization, no routing, no invocation of the room service.
That is several times cheaper than a refusal by the room service, so the backlog drains
while clients wait out their ``retry_after``.

It applies where the room service runs inside the router worker (a single node; its
:class:`~kasagi.service.admission.Admission` is found with
:func:`kasagi.service.admission.running`); elsewhere nothing is refused here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autobahn.wamp import message

from kasagi.service.admission import running
from kasagi.wire import ROOM_PREFIX

__all__ = ["early_refusal", "install"]

_ACT = ".act"


def early_refusal(msg: Any, admission: Callable[[], Any] = running) -> message.Error | None:
    """The error answering ``msg`` at once (a call of a room's ``act`` while the process is
    backlogged), or None to route it as usual."""
    if type(msg) is not message.Call:
        return None
    procedure = msg.procedure
    if not (procedure.startswith(ROOM_PREFIX) and procedure.endswith(_ACT)):
        return None
    current = admission()
    if current is None:
        return None
    error = current.refuse_backlogged()
    if error is None:
        return None
    kind = message.Call.MESSAGE_TYPE
    return message.Error(kind, msg.request, error.uri, args=[error.message], kwargs=error.details())


def install(session_class: Any) -> None:
    """Make ``session_class`` (Crossbar's ``RouterSession``) answer such calls itself."""
    original = session_class.onMessage
    if getattr(original, "kasagi_early_refusal", False):
        return

    def onMessage(self: Any, msg: Any) -> None:
        if self._session_id is not None:
            error = early_refusal(msg)
            if error is not None:
                self._transport.send(error)
                return
        original(self, msg)

    onMessage.kasagi_early_refusal = True  # type: ignore[attr-defined]
    session_class.onMessage = onMessage
