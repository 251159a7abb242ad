"""Room calls answered inside the router's own process (a single node).

On a single node the room service runs inside the router worker, yet a client's ``act``
still crossed Crossbar's dealer: the CALL authorized and routed, an INVOCATION handed to the
room service's session and dispatched by Autobahn, its YIELD routed back and turned into the
RESULT. Those are function calls, never serialized, but each is a few message objects and
Deferreds; at 1,000 acts a second they cost about a tenth of the core (``BENCHMARKS.md``).

:class:`LocalCalls` is the table through which the router session that reads such a CALL
calls the room's procedure itself (``router/local_calls.py``) and answers with the RESULT or
ERROR the dealer would have sent. What stays the same:

- **the procedure**: the table holds the very function registered with the router for the
  room's ``act`` (:class:`~kasagi.wamp.procedures.RoomProcedures` adds it once that
  registration succeeded, and removes it when the room is unregistered or the link lost);
- **authorization**: the client role's rule (:func:`kasagi.auth.authorize_client`), the one
  Crossbar's authorizer asks, decides; anything it does not allow is routed, and refused there;
- **the caller**: the procedure learns the member and session from the router session that
  read the CALL, as it would from the router's disclosure, never from the payload;
- **screening**: keywords no procedure takes are refused with the same error
  (:func:`kasagi.wamp.edge.keyword_refusal`);
- **the answer**: ``[result]`` as the RESULT's arguments; a refusal's URI, arguments and
  keywords as the ERROR's.

A single node's room service is the only session that registers its rooms' procedures, so the
procedure called here is the one the dealer would invoke.

Calls with options the table does not implement (progressive results, a router-side
timeout, end-to-end encrypted payloads, ``forward_for``), calls of sessions of other roles
and calls of procedures not in the table go through the dealer as before.

The table of the room service running in this process is found with :func:`hosted`. In a
room service of its own process, or a cluster worker, nothing reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autobahn.wamp import message
from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from kasagi.auth import authorize_client
from kasagi.wamp.edge import keyword_refusal
from kasagi.wire import CLIENT_ROLE

__all__ = ["LocalCallDetails", "LocalCalls", "hosted"]

#: The tables of the room services running in this process (the router asks the first one).
_HOSTED: list[LocalCalls] = []

Answer = message.Result | message.Error


def hosted() -> LocalCalls | None:
    """The table of this process's room service, if one runs here."""
    return _HOSTED[0] if _HOSTED else None


@dataclass(frozen=True)
class LocalCallDetails:
    """What a procedure reads of a call answered here: what the router would disclose."""

    caller: int
    caller_authid: str
    caller_authrole: str
    procedure: str


class LocalCalls:
    """URI -> a procedure of this process's room service that the router may call directly."""

    def __init__(self) -> None:
        self._procedures: dict[str, Callable[..., Any]] = {}

    def host(self) -> LocalCalls:
        """Make this the table :func:`hosted` finds (until :meth:`unhost`)."""
        if self not in _HOSTED:
            _HOSTED.append(self)
        return self

    def unhost(self) -> None:
        if self in _HOSTED:
            _HOSTED.remove(self)
        self._procedures.clear()

    def add(self, uri: str, procedure: Callable[..., Any]) -> None:
        self._procedures[uri] = procedure

    def remove(self, uri: str) -> None:
        self._procedures.pop(uri, None)

    def __contains__(self, uri: object) -> bool:
        return uri in self._procedures

    def __len__(self) -> int:
        return len(self._procedures)

    def call(self, msg: Any, caller: int, authid: str, authrole: str) -> Deferred[Answer] | None:
        """The answer to ``msg``, called here; None when ``msg`` must be routed (not a CALL of
        a procedure in the table by a client, an option not implemented here, or not allowed)."""
        if type(msg) is not message.Call:
            return None
        procedure = self._procedures.get(msg.procedure)
        if procedure is None or authrole != CLIENT_ROLE or not isinstance(authid, str):
            return None
        if msg.receive_progress or msg.timeout or msg.payload is not None or msg.forward_for:
            return None
        decision = authorize_client(msg.procedure, "call", None)
        if not (isinstance(decision, dict) and decision.get("allow")):
            return None
        request = msg.request
        kwargs = msg.kwargs or {}
        refusal = keyword_refusal(kwargs)
        if refusal is not None:
            return succeed(_error(request, refusal.uri, [refusal.message], refusal.details()))
        details = LocalCallDetails(caller, authid, authrole, msg.procedure)
        try:
            outcome = procedure(*(msg.args or ()), **{**kwargs, "details": details})
        except Exception as exc:  # noqa: BLE001 -- answered as the dealer would have
            return succeed(_from_exception(request, exc))
        if isinstance(outcome, Deferred):
            return outcome.addCallbacks(lambda value: _result(request, value), lambda f: _from_failure(request, f))
        return succeed(_result(request, outcome))


def _result(request: int, value: Any) -> message.Result:
    return message.Result(request, args=[value])


def _error(request: int, uri: str, args: list[Any] | None, kwargs: dict[str, Any] | None) -> message.Error:
    return message.Error(message.Call.MESSAGE_TYPE, request, uri, args=args, kwargs=kwargs)


def _from_failure(request: int, failure: Failure) -> message.Error:
    exc = failure.value
    return _from_exception(request, exc if exc is not None else RuntimeError("no exception"))


def _from_exception(request: int, exc: BaseException) -> message.Error:
    """The ERROR the caller would have got from the dealer (Autobahn's callee side turns an
    exception into the invocation's error; the dealer passes it on)."""
    if isinstance(exc, ApplicationError):
        return _error(request, exc.error, list(exc.args), exc.kwargs)
    return _error(request, "wamp.error.runtime_error", list(exc.args), None)
