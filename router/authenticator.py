"""The dynamic WAMP-ticket authenticator of the client transport.

Secure mode (a secret is configured): the ticket must be a valid, unexpired token for the
authid (``kasagi token USER``). Dev mode (no secret): any well-formed authid is accepted,
whatever the ticket -- announced loudly at start. Clients always get the ``client`` role;
this authenticator can never hand out the backend role.
"""

from __future__ import annotations

import os
import time
from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import inlineCallbacks
from twisted.logger import Logger

from kasagi import wire
from kasagi.auth import TokenError, check_authid, verify_token

__all__ = ["TicketAuthenticator"]

CLIENT_ROLE = "client"


class TicketAuthenticator(ApplicationSession):
    log = Logger()

    @inlineCallbacks
    def onJoin(self, details: Any):  # type: ignore[no-untyped-def]
        extra = self.config.extra or {}
        # The edge reads the environment once; the secret is never logged.
        secret = os.environ.get(extra.get("secret_env", "KASAGI_SECRET"), "")
        self._secret = secret.encode("utf-8")
        self._secure = bool(self._secret)
        if extra.get("secure") and not self._secure:
            raise RuntimeError("secure mode needs a secret (KASAGI_SECRET)")
        yield self.register(self.authenticate, wire.AUTHENTICATE)
        if self._secure:
            self.log.info("client authentication: secure mode (signed tickets only)")
        else:
            self.log.warn("client authentication: DEV MODE -- any authid is accepted without a valid ticket")

    def authenticate(self, realm: str, authid: str, details: dict[str, Any]) -> dict[str, Any]:
        try:
            check_authid(authid)
            if realm != wire.REALM:
                raise TokenError(f"unknown realm {realm!r}")
            if self._secure:
                verify_token(details.get("ticket"), authid, self._secret, time.time())
        except TokenError as exc:
            raise ApplicationError(wire.ErrorURI.NOT_AUTHORIZED, f"authentication failed: {exc}") from None
        return {"role": CLIENT_ROLE, "authid": authid}
