"""The WAMP session class every room service session derives from."""

from __future__ import annotations

from typing import Any

from autobahn.twisted.wamp import ApplicationSession

from kasagi.wamp.edge import screen_invocation

__all__ = ["ScreenedSession"]


class ScreenedSession(ApplicationSession):
    """A session that answers the invocations Autobahn can't dispatch safely (reserved keyword
    names, a forged ``forward_for``) itself, before they reach a procedure; with no transport
    (the session is gone) there is nobody to answer."""

    def onMessage(self, msg: Any) -> None:
        refusal = screen_invocation(msg)
        if refusal is not None:
            if self._transport is not None:
                self._transport.send(refusal)
            return
        super().onMessage(msg)
