"""Domain errors of the room core, each with a stable URI.

The tree::

    KasagiError                 (never raised itself)
    +-- InvalidArgument         kasagi.error.invalid_argument  malformed input; give up
    +-- Rejected                kasagi.error.rejected          the room's rules refused it; give up
    +-- NotMember               kasagi.error.not_member        join the room again, then retry
    +-- NoSuchRoom              kasagi.error.no_such_room      open the room again, then retry
    +-- RateLimited             kasagi.error.rate_limited      retry later (retryable; ``retry_after`` s)
    +-- Full                    kasagi.error.full              a capacity limit is reached; retry later (retryable)
    +-- Unavailable             kasagi.error.unavailable       retry with the same cseq (retryable)
    |   +-- RoomDamaged         kasagi.error.unavailable       the room's stored data is damaged (final)
    +-- NotAuthorized           kasagi.error.not_authorized    give up
    +-- Internal                kasagi.error.internal          a room type's hook failed; give up
    +-- OutcomeUnknown          kasagi.error.outcome_unknown   its result is forgotten; give up, re-read the state

The core raises these; only the WAMP edge turns them into ``ApplicationError``. Every error
names the ``field`` at fault, what was ``expected`` and what was ``got``; ``retryable`` says
whether the same call, as it is, may succeed later. It is not written here: it comes from the
one table of client recoveries, :data:`kasagi.wire.ERROR_POLICY` (true exactly for
``Recovery.RETRY`` or ``Recovery.LATER``), and a subclass made with ``final=True`` says false whatever its URI.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kasagi import wire
from kasagi.wire import ErrorURI

__all__ = [
    "Full",
    "Internal",
    "InvalidArgument",
    "KasagiError",
    "NoSuchRoom",
    "NotAuthorized",
    "NotMember",
    "OutcomeUnknown",
    "RateLimited",
    "Rejected",
    "RoomDamaged",
    "Unavailable",
    "describe",
]


def describe(value: Any, limit: int = 60) -> str:
    """A short, safe description of a value that arrived, for the ``got`` detail."""
    kind = type(value).__name__
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{kind} {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= limit else value[:limit] + "..."
        return f"string {text!r}"
    if isinstance(value, (list, tuple)):
        return f"list of {len(value)}"
    if isinstance(value, dict):
        return f"map of {len(value)}"
    return kind


#: Longest text of one error detail.
MAX_DETAIL = 256


def sendable(text: str) -> str:
    """``text`` as valid UTF-8: a lone surrogate (half of a character, which no WAMP
    serializer can send) becomes U+FFFD, so an error that quotes bad input can still be sent."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _cut(text: str) -> str:
    text = sendable(text)
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


class KasagiError(Exception):
    """A refusal the client sees as a WAMP error with a stable URI."""

    uri: ClassVar[str] = ""
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        expected: str | None = None,
        got: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.expected = expected
        self.got = got
        self.extra = extra

    def __init_subclass__(cls, *, final: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.retryable = not final and wire.retryable(cls.uri)

    def details(self) -> dict[str, Any]:
        """Keyword details for the WAMP error (only the keys that are set; each text cut to
        :data:`MAX_DETAIL` characters, so an error never outgrows what caused it)."""
        out: dict[str, Any] = {}
        if self.field is not None:
            out["field"] = _cut(self.field)
        if self.expected is not None:
            out["expected"] = _cut(self.expected)
        if self.got is not None:
            out["got"] = _cut(self.got)
        out.update(self.extra)
        out["retryable"] = self.retryable
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.details()!r})"


class InvalidArgument(KasagiError):
    uri = ErrorURI.INVALID_ARGUMENT


class Rejected(KasagiError):
    uri = ErrorURI.REJECTED


class NotMember(KasagiError):
    uri = ErrorURI.NOT_MEMBER


class NoSuchRoom(KasagiError):
    uri = ErrorURI.NO_SUCH_ROOM


class RateLimited(KasagiError):
    uri = ErrorURI.RATE_LIMITED


class Full(KasagiError):
    uri = ErrorURI.FULL


class Unavailable(KasagiError):
    uri = ErrorURI.UNAVAILABLE


class RoomDamaged(Unavailable, final=True):
    """The room's stored data can't be loaded (damaged or foreign); an operator must look."""


class NotAuthorized(KasagiError):
    uri = ErrorURI.NOT_AUTHORIZED


class Internal(KasagiError):
    """A room type's hook raised an unexpected exception: the call is refused, nothing of it
    applied. The details name the room type and the hook, never the traceback."""

    uri = ErrorURI.INTERNAL
    #: The :class:`~kasagi.core.hooks.HookFailure` behind it (for the log; never sent).
    failure: object | None = None


class OutcomeUnknown(KasagiError):
    """An ``act`` whose cseq is at or below its client instance's floor and no longer in its
    results window, or whose instance the room dropped (``field`` says which; ``floor`` the
    floor): it may have been applied, so it is not applied again. The client gives up and
    looks at the room's state to see whether it happened."""

    uri = ErrorURI.OUTCOME_UNKNOWN
