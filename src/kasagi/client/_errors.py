"""Errors the client raises.

    Exception
    +-- ApplicationError (Autobahn)
    |   +-- ServerError     the server answered with an error URI (``kasagi.error.*`` or
    |                       ``wamp.error.*``); ``.details`` names the field, what was expected
    |                       and what was got, and ``str()`` shows them
    +-- CallTimeout         no answer within the call's deadline: it may or may not have happened
    +-- ConnectionLost      not connected, and gave up waiting (or the login was refused)

Whether the client retries after each is :data:`kasagi.wire.ERROR_POLICY` (see ``_retry``).
"""

from __future__ import annotations

from typing import Any

from autobahn.wamp.exception import ApplicationError
from twisted.python.failure import Failure

from kasagi.deadline import DeadlineExceeded

__all__ = ["CallTimeout", "ConnectionLost", "ServerError", "as_call_timeout", "as_client_error"]

#: Details shown first, in this order, by ``str()``; the others follow in the server's order.
_FIRST_DETAILS = ("field", "expected", "got")


class ServerError(ApplicationError):
    """An error the server answered a call or an input with. Still an Autobahn
    ``ApplicationError``: ``.error`` is the URI, ``.kwargs`` (also ``.details``) the details.

    ``str()`` reads ``kasagi.error.rejected: move is faster than the speed limit (field=args.dx,
    expected=|dx| <= 10, got=int 50)``: the URI, the message, and every detail but
    ``retryable`` (shown as the bare word ``retryable`` when true)."""

    def __init__(self, error: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(error, *args, **kwargs)  # type: ignore[no-untyped-call]  # Autobahn is unannotated

    @classmethod
    def from_application_error(cls, error: ApplicationError) -> ServerError:
        """The same error (URI, message, details and the callee's identity) as a ServerError."""
        if isinstance(error, ServerError):
            return error
        return cls(
            error.error,
            *error.args,
            enc_algo=error.enc_algo,
            callee=error.callee,
            callee_authid=error.callee_authid,
            callee_authrole=error.callee_authrole,
            forward_for=error.forward_for,
            **(error.kwargs or {}),
        )

    @property
    def message(self) -> str:
        """The server's message (its first positional argument), or ``""``."""
        return " ".join(str(a) for a in self.args)

    @property
    def details(self) -> dict[str, Any]:
        """The keyword details: ``field``, ``expected``, ``got``, ``retryable``, and any
        other the error carries (``retry_after``, ``limit``, ...)."""
        return dict(self.kwargs or {})

    @property
    def retryable(self) -> bool:
        """The server's own word on whether the same call may succeed later."""
        return bool(self.details.get("retryable", False))

    def __str__(self) -> str:
        details = self.details
        keys = [k for k in _FIRST_DETAILS if k in details] + [
            k for k in details if k not in _FIRST_DETAILS and k != "retryable"
        ]
        shown = [f"{k}={details[k]}" for k in keys]
        if details.get("retryable") is True:
            shown.append("retryable")
        head = f"{self.error}: {self.message}" if self.message else str(self.error)
        return f"{head} ({', '.join(shown)})" if shown else head

    def __repr__(self) -> str:
        return f"ServerError({self.error!r}, {self.message!r}, {self.details!r})"


class CallTimeout(Exception):
    """A call got no answer within its deadline; it may or may not have happened."""


class ConnectionLost(Exception):
    """The client is not connected (and gave up waiting to reconnect)."""


def as_call_timeout(failure: Failure) -> Failure:
    """A call's missed deadline as :class:`CallTimeout`; any other failure as it is."""
    if failure.check(DeadlineExceeded):
        return Failure(CallTimeout(str(failure.value)))
    return failure


def as_client_error(failure: Failure) -> Failure:
    """What a call fails with in the client's terms: a missed deadline as
    :class:`CallTimeout`, a server's ``ApplicationError`` as :class:`ServerError`; any other
    failure as it is."""
    error = failure.value
    if isinstance(error, ApplicationError) and not isinstance(error, ServerError):
        return Failure(ServerError.from_application_error(error))
    return as_call_timeout(failure)
