"""The WAMP edge: domain errors become ``ApplicationError`` here and nowhere else, and the
member is taken from the router's caller disclosure, never from a payload.

:func:`screen_invocation` answers two kinds of invocations before Autobahn dispatches them:

- A caller can put a ``forward_for`` list in its CALL options, and Crossbar then discloses the
  first entry of that list as the caller (meant for router-to-router links). Kasagi has no
  such links, so an invocation with ``forward_for`` is a forgery: ``kasagi.error.not_authorized``.
- Autobahn hands a callee the caller's keywords through ``txaio.as_future(fun, *args,
  **kwargs)`` and ``maybeDeferred(f, ...)``: a keyword named ``self``, ``fun`` or ``f`` makes
  that dispatch raise, and the call is never answered. No procedure takes such a keyword:
  ``kasagi.error.invalid_argument``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from autobahn.wamp import message
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallDetails
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi.core import InvalidArgument, KasagiError, NotAuthorized, describe, sendable
from kasagi.wire import ADMIN_ROLE

__all__ = [
    "RESERVED_KEYWORDS",
    "caller_admin",
    "caller_member",
    "caller_session",
    "keyword_refusal",
    "screen_invocation",
    "to_application_error",
    "wamp_errors",
]

F = TypeVar("F", bound=Callable[..., Any])
_log = Logger()


def to_application_error(error: KasagiError) -> ApplicationError:
    message = sendable(error.message)
    message = message if len(message) <= 512 else message[:509] + "..."
    return ApplicationError(error.uri, message, **error.details())


def _convert(failure: Failure) -> Failure:
    if failure.check(KasagiError):
        return Failure(to_application_error(failure.value))  # type: ignore[arg-type]
    if failure.check(ApplicationError):
        return failure
    _log.failure("unexpected error in a procedure", failure)
    return Failure(ApplicationError("kasagi.error.unavailable", "internal error; retry later", retryable=True))


def wamp_errors(fn: F) -> F:
    """Wrap a procedure so that domain errors (raised or in a Deferred) reach the caller as
    WAMP errors with their stable URI and details, and nothing else leaks."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except KasagiError as exc:
            raise to_application_error(exc) from None
        except ApplicationError:
            raise
        except Exception:  # noqa: BLE001 -- logged by _convert; the caller gets a generic error
            return _convert(Failure()).raiseException()
        if isinstance(result, Deferred):
            return result.addErrback(_convert)
        return result

    return wrapper  # type: ignore[return-value]


def caller_member(details: CallDetails | None) -> str:
    """The calling member (authid disclosed by the router)."""
    authid = getattr(details, "caller_authid", None)
    if not isinstance(authid, str) or not authid:
        raise NotAuthorized(
            "the router did not disclose the caller", field="caller", expected="a disclosed authid", got="none"
        )
    return authid


def caller_admin(details: CallDetails | None) -> str:
    """The calling admin (authid and the ``admin`` role disclosed by the router); the
    router permits ``kasagi.admin.*`` to that role alone, and this checks it again."""
    authid = caller_member(details)
    role = getattr(details, "caller_authrole", None)
    if role != ADMIN_ROLE:
        raise NotAuthorized(
            "admin procedures are for admin sessions", field="caller", expected="the admin role", got=str(role)[:64]
        )
    return authid


def caller_session(details: CallDetails | None) -> str:
    session = getattr(details, "caller", None)
    if session is None:
        raise NotAuthorized(
            "the router did not disclose the caller", field="caller", expected="a disclosed session", got="none"
        )
    return str(session)


#: Keyword names Autobahn's dispatch can't pass on (parameters of ``as_future``/``maybeDeferred``).
RESERVED_KEYWORDS = frozenset({"self", "fun", "f"})


def screen_invocation(msg: Any) -> message.Error | None:
    """The error answering an invocation that must not reach a procedure, or None."""
    if not isinstance(msg, message.Invocation):
        return None
    if msg.forward_for:
        return _forged_caller(msg)
    error = keyword_refusal(msg.kwargs or {})
    return None if error is None else _error(msg, error)


def keyword_refusal(kwargs: Any) -> InvalidArgument | None:
    """The refusal of a call whose keywords no procedure takes (not strings, or reserved), or None."""
    for key in kwargs:
        if not isinstance(key, str) or key in RESERVED_KEYWORDS:
            return InvalidArgument(
                "a keyword argument no procedure takes",
                field=str(key)[:64],
                expected="string keyword names other than " + ", ".join(sorted(RESERVED_KEYWORDS)),
                got=describe(key),
            )
    return None


def _error(msg: Any, error: KasagiError) -> message.Error:
    kind = message.Invocation.MESSAGE_TYPE
    return message.Error(kind, msg.request, error.uri, args=[error.message], kwargs=error.details())


def _forged_caller(msg: Any) -> message.Error:
    _log.warn(
        "refused an invocation of {procedure} that claims to forward for {ff}",
        procedure=msg.procedure,
        ff=str(msg.forward_for)[:200],
    )
    error = NotAuthorized(
        "calls forwarded for another member are not accepted",
        field="forward_for",
        expected="no forward_for",
        got="a forward_for list",
    )
    return _error(msg, error)
