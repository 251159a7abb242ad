"""WAMP-CRA for the backend transport: only ``kasagi_backend`` with the deployment's backend
secret gets the ``backend`` role.

Crossbar calls :func:`create_authenticator` once (a ``"function"`` authenticator, in the
router process: no WAMP round trip, nothing on the wire), which reads the secret from the
environment variable named in its config. A static principal with ``"$VAR"`` is not used:
Crossbar 26.10 resolves the variable only when it checks the config, and the transport then
compares against the literal text ``$VAR``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from typing import Any

from autobahn.wamp.exception import ApplicationError

from kasagi import wire

__all__ = ["BACKEND_AUTHID", "BACKEND_ROLE", "create_authenticator"]

BACKEND_AUTHID = "kasagi_backend"
BACKEND_ROLE = "backend"

Authenticate = Callable[[str, str, Mapping[str, Any]], dict[str, Any]]


def create_authenticator(config: Mapping[str, Any], controller: Any = None) -> Authenticate:
    """The authenticate function of the backend transport (reads the secret once)."""
    secret = os.environ.get(str(config.get("secret_env", "KASAGI_BACKEND_SECRET")), "")
    if len(secret) < 16:
        raise RuntimeError("the backend transport needs a secret of at least 16 characters (KASAGI_BACKEND_SECRET)")

    def authenticate(realm: str, authid: str, details: Mapping[str, Any]) -> dict[str, Any]:
        if realm != wire.REALM or not isinstance(authid, str) or not hmac.compare_digest(authid, BACKEND_AUTHID):
            raise ApplicationError(wire.ErrorURI.NOT_AUTHORIZED, "no such backend principal")
        return {"secret": secret, "role": BACKEND_ROLE}

    return authenticate
