"""The WAMP session class every room service session derives from."""

from __future__ import annotations

from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError

from kasagi.wamp.edge import screen_invocation

__all__ = ["ScreenedSession"]

#: The prefix of the error URIs of client refusals (``kasagi.wire.ErrorURI``): counted by the
#: edge (``kasagi.wamp.refusals``), never logged.
_KASAGI_ERRORS = "kasagi.error."


class ScreenedSession(ApplicationSession):
    """A session that answers the invocations Autobahn can't dispatch safely (reserved keyword
    names, a forged ``forward_for``) itself, before they reach a procedure; with no transport
    (the session is gone) there is nobody to answer.

    A client's call refused with a ``kasagi.error.*`` URI is counted (the refusals metric),
    not logged: under overload a process refuses thousands per second, and a log line each
    would cost more than the refusal."""

    def onMessage(self, msg: Any) -> None:
        refusal = screen_invocation(msg)
        if refusal is not None:
            if self._transport is not None:
                self._transport.send(refusal)
            return
        super().onMessage(msg)

    def onUserError(self, fail: Any, msg: Any) -> None:
        value = getattr(fail, "value", None)
        if isinstance(value, ApplicationError) and str(value.error).startswith(_KASAGI_ERRORS):
            return
        super().onUserError(fail, msg)
