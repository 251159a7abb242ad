"""The dynamic authorizer of the ``client`` role (rules in :mod:`kasagi.authorization`)."""

from __future__ import annotations

from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from twisted.internet.defer import inlineCallbacks
from twisted.logger import Logger

from kasagi import wire
from kasagi.authorization import authorize_client

__all__ = ["ClientAuthorizer"]


class ClientAuthorizer(ApplicationSession):  # type: ignore[misc]
    log = Logger()

    @inlineCallbacks
    def onJoin(self, details: Any):  # type: ignore[no-untyped-def]
        yield self.register(self.authorize, wire.AUTHORIZE)
        self.log.info("client authorizer ready")

    def authorize(self, session: dict[str, Any], uri: str, action: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        return authorize_client(uri, action, options)
