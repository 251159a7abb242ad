"""Errors the client raises besides the server's ``ApplicationError``."""

from __future__ import annotations

from twisted.python.failure import Failure

from kasagi.deadline import DeadlineExceeded

__all__ = ["CallTimeout", "ConnectionLost", "as_call_timeout"]


class CallTimeout(Exception):
    """A call got no answer within its deadline; it may or may not have happened."""


class ConnectionLost(Exception):
    """The client is not connected (and gave up waiting to reconnect)."""


def as_call_timeout(failure: Failure) -> Failure:
    """A call's missed deadline as :class:`CallTimeout`; any other failure as it is."""
    if failure.check(DeadlineExceeded):
        return Failure(CallTimeout(str(failure.value)))
    return failure
