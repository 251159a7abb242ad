"""The dynamic WAMP-ticket authenticator of the client transport.

Secure mode (a secret is configured): the ticket must be a valid, unexpired token for the
authid (``kasagi token USER``) that expires within the maximum ticket lifetime (``extra.max_ticket_ttl``,
else ``KASAGI_MAX_TICKET_TTL``, else 7 days). Any other ticket -- text of any kind, bytes, other
types -- is refused with ``kasagi.error.not_authorized``. Dev mode (no secret): any well-formed authid is accepted,
whatever the ticket -- announced loudly at start. Clients always get the ``client`` role;
this authenticator can never hand out the backend role.

Admins (the monitor, ``docs/monitor.md``): a ticket whose signed payload names the ``admin``
role (``kasagi token USER --role admin``) must be signed with the admin secret
(``KASAGI_ADMIN_SECRET``, else ``KASAGI_SECRET``) and valid, in dev mode as in secure mode; it
gets the ``admin`` role. Such a ticket that does not verify is refused, never downgraded to a
client. With no admin secret of at least 16 characters nobody is an admin.
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
from kasagi.auth import TokenError, check_authid, claimed_role, max_ttl_from, verify_token

__all__ = ["TicketAuthenticator"]

CLIENT_ROLE = wire.CLIENT_ROLE
#: The shortest admin secret accepted (the same minimum as every secret of a deployment).
MIN_SECRET_LENGTH = 16


class TicketAuthenticator(ApplicationSession):
    log = Logger()

    @inlineCallbacks
    def onJoin(self, details: Any):  # type: ignore[no-untyped-def]
        extra = self.config.extra or {}
        # The edge reads the environment once; the secret is never logged.
        secret = os.environ.get(extra.get("secret_env", "KASAGI_SECRET"), "")
        self._secret = secret.encode("utf-8")
        self._secure = bool(self._secret)
        raw_max = extra.get("max_ticket_ttl")
        self._max_ttl = max_ttl_from(os.environ.get("KASAGI_MAX_TICKET_TTL") if raw_max is None else str(raw_max))
        if extra.get("secure") and not self._secure:
            raise RuntimeError("secure mode needs a secret (KASAGI_SECRET)")
        admin = os.environ.get(extra.get("admin_secret_env", "KASAGI_ADMIN_SECRET"), "") or secret
        self._admin_secret = admin.encode("utf-8") if len(admin) >= MIN_SECRET_LENGTH else b""
        yield self.register(self.authenticate, wire.AUTHENTICATE)
        if self._secure:
            self.log.info(
                "client authentication: secure mode (signed tickets only, living at most {max_ttl:g} s)",
                max_ttl=self._max_ttl,
            )
        else:
            self.log.warn("client authentication: DEV MODE -- any authid is accepted without a valid ticket")
        if not self._admin_secret:
            self.log.info("admin logins: off (no admin secret of at least {n} characters)", n=MIN_SECRET_LENGTH)

    def authenticate(self, realm: str, authid: str, details: dict[str, Any]) -> dict[str, Any]:
        try:
            check_authid(authid)
            if realm != wire.REALM:
                raise TokenError(f"unknown realm {realm!r}")
            ticket = details.get("ticket")
            if claimed_role(ticket) == wire.ADMIN_ROLE:
                if not self._admin_secret:
                    raise TokenError("admin logins are off (no admin secret configured)")
                role = verify_token(ticket, authid, self._admin_secret, time.time(), self._max_ttl)
                if role == wire.ADMIN_ROLE:
                    return {"role": wire.ADMIN_ROLE, "authid": authid}
            if self._secure:
                verify_token(details.get("ticket"), authid, self._secret, time.time(), self._max_ttl)
        except TokenError as exc:
            raise ApplicationError(wire.ErrorURI.NOT_AUTHORIZED, f"authentication failed: {exc}") from None
        return {"role": CLIENT_ROLE, "authid": authid}
