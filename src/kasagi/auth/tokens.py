"""Client tickets: ``kasagi token USER`` mints them, the router's authenticator checks them.

A token is ``v1.<payload>.<signature>``: the payload is base64url JSON ``{"sub": authid,
"exp": unix seconds}``; the signature is base64url HMAC-SHA256 over ``v1.<payload>`` with the
deployment secret. Pure functions: time and secret are arguments.

An admin ticket (``kasagi token USER --role admin``) also carries ``"role": "admin"`` in its
signed payload, and is signed with the admin secret (``KASAGI_ADMIN_SECRET``, else the
deployment secret): :func:`claimed_role` reads which secret a ticket needs before
:func:`verify_token` checks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Final

from kasagi.wire import AUTHID_RE

__all__ = ["AUTHID_RE", "ROLES", "TokenError", "check_authid", "claimed_role", "mint_token", "verify_token"]

VERSION: Final = "v1"
MAX_TOKEN_LENGTH: Final = 1024
#: The roles a ticket can name: ``client`` (the default, no ``role`` claim) and ``admin``.
ROLES: Final = ("client", "admin")


class TokenError(Exception):
    """A ticket was refused; the message says why (and never contains the secret)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, signed: str) -> str:
    return _b64(hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest())


def check_authid(authid: object) -> str:
    if not isinstance(authid, str) or not AUTHID_RE.fullmatch(authid):
        raise TokenError(f"malformed authid: expected {AUTHID_RE.pattern}")
    return authid


def mint_token(authid: str, secret: bytes, now: float, ttl: float, role: str = "client") -> str:
    """A ticket for ``authid`` valid for ``ttl`` seconds from ``now`` (``role``: one of
    :data:`ROLES`; a client ticket names none)."""
    check_authid(authid)
    if not secret:
        raise TokenError("no secret configured")
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    claims: dict[str, object] = {"sub": authid, "exp": int(now + ttl)}
    if role != "client":
        claims["role"] = role
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signed = f"{VERSION}.{payload}"
    return f"{signed}.{_sign(secret, signed)}"


def claimed_role(token: object) -> str:
    """The role a ticket claims, before its signature is checked (``client`` for anything
    that is not a well-formed ticket naming another role): it says which secret must have
    signed it. Never trust it without :func:`verify_token`."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return "client"
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        return "client"
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return "client"
    role = claims.get("role") if isinstance(claims, dict) else None
    return role if isinstance(role, str) and role in ROLES else "client"


def verify_token(token: object, authid: str, secret: bytes, now: float) -> str:
    """The role of ``token`` if it is a valid, unexpired ticket for ``authid``; else ``TokenError``."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed ticket")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise TokenError("malformed ticket: expected v1.<payload>.<signature>")
    signed = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(secret, signed), parts[2]):
        raise TokenError("bad ticket signature")
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed ticket payload") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise TokenError("malformed ticket payload")
    if claims.get("sub") != authid:
        raise TokenError("ticket was issued for another authid")
    if claims["exp"] <= now:
        raise TokenError("ticket expired")
    role = claims.get("role", "client")
    if role not in ROLES:
        raise TokenError(f"ticket names an unknown role {role!r}")
    return str(role)
