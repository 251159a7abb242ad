"""The client's retry policy: what a failed call leads to, and how long to wait before the
next attempt.

What to do about each error URI is not decided here: it is :data:`kasagi.wire.ERROR_POLICY`,
the table the server's ``retryable`` details and the JS SDK follow too. This module maps the
failures a Twisted call can end with onto that table.
"""

from __future__ import annotations

import random

from autobahn.wamp.exception import ApplicationError, TransportLost
from twisted.python.failure import Failure

from kasagi import wire
from kasagi.client._errors import CallTimeout, ConnectionLost
from kasagi.deadline import DeadlineExceeded
from kasagi.wire import Recovery

__all__ = ["RETRY_ERRORS", "Recovery", "backoff_delay", "recovers", "recovery_of", "retry_after_of"]

#: What a call may fail with and still be recovered from (which ones: :func:`recovery_of`).
RETRY_ERRORS = (ApplicationError, CallTimeout, ConnectionLost, TransportLost, DeadlineExceeded)

#: The failures the client raises itself, by the URI the table knows them as.
_LOCAL_URIS: tuple[tuple[type[BaseException], str], ...] = (
    (CallTimeout, wire.ClientErrorURI.TIMEOUT),
    (DeadlineExceeded, wire.ClientErrorURI.TIMEOUT),
    (ConnectionLost, wire.ClientErrorURI.CONNECTION_LOST),
    (TransportLost, wire.WampErrorURI.TRANSPORT_LOST),
)


def recovery_of(failure: Failure) -> Recovery:
    """What to do after ``failure``: the server's error by its URI and details, the client's
    own timeouts and lost connections by theirs; anything else is final."""
    error = failure.value
    if isinstance(error, ApplicationError):
        return wire.recovery(error.error, error.kwargs or {})
    for kind, uri in _LOCAL_URIS:
        if isinstance(error, kind):
            return wire.recovery(uri)
    return Recovery.GIVE_UP


def retry_after_of(error: object) -> float:
    """The wait (seconds) a refusal asks for: its ``retry_after`` detail (a
    ``kasagi.error.rate_limited``), or 0."""
    if not isinstance(error, ApplicationError):
        return 0.0
    after = (error.kwargs or {}).get("retry_after")
    if isinstance(after, int | float) and not isinstance(after, bool) and after > 0:
        return float(after)
    return 0.0


def recovers(failure: Failure) -> bool:
    """Whether the client tries again after ``failure`` (re-opening or re-joining first if
    the table says so)."""
    return not recovery_of(failure).final


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with jitter: ``[0.5, 1] x min(cap, initial * 2**attempt)``
    (attempt 0 is the first retry). Never more than ``cap``."""
    base = min(cap, initial * float(2 ** min(attempt, 32)))
    jitter: float = (rng or random).uniform(0.5, 1.0)
    return base * jitter
