"""The WAMP session class every room service session derives from."""

from __future__ import annotations

from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError
from twisted.logger import Logger

from kasagi.wamp.edge import screen_invocation

_log = Logger()
#: The URIs of the answers a client caused (bad input, refused actions): counted by the
#: edge (``kasagi.wamp.refusals``), logged only at debug level.
CLIENT_ERROR_PREFIX = "kasagi.error."

__all__ = ["ScreenedSession"]


class ScreenedSession(ApplicationSession):
    """A session that answers the invocations Autobahn can't dispatch safely (reserved keyword
    names, a forged ``forward_for``) itself, before they reach a procedure; with no transport
    (the session is gone) there is nobody to answer.

    A refusal sent to a client (a ``kasagi.error.*`` answer: ``rejected``,
    ``invalid_argument``, ...) is no server problem: it is counted in the metrics and logged
    at debug level only, so a client can't fill the server's log. Any other error of a
    procedure is logged as Autobahn does."""

    def onMessage(self, msg: Any) -> None:
        refusal = screen_invocation(msg)
        if refusal is not None:
            if self._transport is not None:
                self._transport.send(refusal)
            return
        super().onMessage(msg)

    def onUserError(self, fail: Any, msg: str) -> None:
        value = getattr(fail, "value", None)
        if isinstance(value, ApplicationError) and str(value.error).startswith(CLIENT_ERROR_PREFIX):
            _log.debug("refused a call: {uri}: {message}", uri=value.error, message=value.error_message())
            return
        super().onUserError(fail, msg)
