"""The fast input path, shared by the single-node room service and the cluster workers.

An action published on ``kasagi.input.<room>`` is applied like ``act``; the event that
carries it acknowledges it (``acks``), and a refusal -- or the first result of a repeated
cseq -- goes to the publishing session only, as ``{"reply": ...}`` on the room's topic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import EventDetails
from twisted.logger import Logger

from kasagi import wire
from kasagi.core import ActCommand, KasagiError, ValueLimits, parse_room_id
from kasagi.service import RoomRunner
from kasagi.wamp.edge import to_application_error

__all__ = ["handle_input", "refusal"]

log = Logger()

#: ``reply(room, publisher_session, payload)``: answer the publisher on the room's topic.
Reply = Callable[[str, int, dict[str, Any]], None]


def handle_input(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    details: EventDetails,
    *,
    runner_for: Callable[[str], RoomRunner | None],
    limits: ValueLimits,
    reply: Reply,
) -> None:
    """Apply one input. ``runner_for(room)`` gives the room's runner, raises a domain error
    (the room is not open, or loading), or returns None when another process owns the room
    (then the input is left to it, unanswered here)."""
    session = details.publisher
    room = (details.topic or "")[len(wire.INPUT_PREFIX) :]
    if details.forward_for:
        # Only router-to-router links forward; a client claiming to is forging a publisher.
        log.warn(
            "input on {topic} claiming to forward for {ff}: dropped",
            topic=details.topic,
            ff=str(details.forward_for)[:200],
        )
        return
    member = details.publisher_authid
    if not isinstance(member, str) or session is None:
        log.warn("input on {topic} without publisher disclosure: dropped", topic=details.topic)
        return
    positional: tuple[Any, ...] = args
    if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
        # The map form: {"action", "args", "cseq"}.
        kwargs = args[0]
        positional = ()
    cseq = kwargs.get("cseq") if kwargs else next(iter(positional[2:]), None)
    try:
        runner = runner_for(parse_room_id(room))
        if runner is None:
            return
        runner.admit()  # refused before parsing when the process is past its capacity
        d = runner.act(member, ActCommand.from_wamp(positional, kwargs, limits), announce=True, admitted=True)
    except KasagiError as exc:
        reply(room, session, refusal(cseq, exc))
        return
    except Exception:  # noqa: BLE001 -- a bug must not go unanswered or reach the router
        log.failure("input on {topic} failed", topic=details.topic)
        reply(room, session, refusal(cseq, None))
        return
    if d.called:
        # A repeat of an applied cseq: answer with its first result.
        d.addCallback(lambda result: reply(room, session, result))
    d.addErrback(lambda f: reply(room, session, refusal(cseq, f.value)))
    d.addErrback(lambda f: log.failure("input reply on {room} failed", f, room=room))


def refusal(cseq: Any, error: Any) -> dict[str, Any]:
    """The reply to a refused input: ``{"cseq", "error", "message", "details"}``."""
    if isinstance(error, KasagiError):
        error = to_application_error(error)
    if not isinstance(error, ApplicationError):
        error = ApplicationError(wire.ErrorURI.UNAVAILABLE, "internal error; retry later", retryable=True)
    message = error.args[0] if error.args else ""
    return {"cseq": cseq, "error": error.error, "message": message, "details": dict(error.kwargs or {})}
