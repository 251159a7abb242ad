"""Client tickets: ``kasagi token USER`` mints them, the router's authenticator checks them.

A token is ``v1.<payload>.<signature>``: the payload is base64url JSON ``{"sub": authid,
"exp": unix seconds}``; the signature is base64url HMAC-SHA256 over ``v1.<payload>`` with the
deployment secret. Pure functions: time and secret are arguments.

An admin ticket (``kasagi token USER --role admin``) also carries ``"role": "admin"`` in its
signed payload, and is signed with the admin secret (``KASAGI_ADMIN_SECRET``, else the
deployment secret): :func:`claimed_role` reads which secret a ticket needs before
:func:`verify_token` checks it.

A ticket lives at most ``max_ttl`` seconds (default :data:`MAX_TICKET_TTL`, 7 days; a
deployment sets ``KASAGI_MAX_TICKET_TTL``, read by ``kasagi token`` and by the router's
authenticator): ``kasagi token`` refuses to mint a longer one, and the authenticator refuses a
ticket whose expiry is further away than that (plus :data:`CLOCK_SKEW` seconds for the clock of
the machine that minted it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from typing import Final

from kasagi.wire import AUTHID_RE

__all__ = [
    "AUTHID_RE",
    "MAX_TICKET_TTL",
    "ROLES",
    "TokenError",
    "check_authid",
    "check_ttl",
    "claimed_role",
    "max_ttl_from",
    "mint_token",
    "verify_token",
]

VERSION: Final = "v1"
MAX_TOKEN_LENGTH: Final = 1024
#: The roles a ticket can name: ``client`` (the default, no ``role`` claim) and ``admin``.
ROLES: Final = ("client", "admin")
#: The longest a ticket may live unless the deployment says otherwise (seconds): 7 days.
MAX_TICKET_TTL: Final = 7 * 86_400.0
#: How far ahead of the router's clock the minting machine's clock may be (seconds).
CLOCK_SKEW: Final = 60
#: What a ticket may consist of: ``v1.`` and two base64url parts, ASCII only (checked before
#: anything else, so no text of any kind reaches the decoders).
_TICKET_RE: Final = re.compile(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)


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


def check_ttl(ttl: object, max_ttl: float = MAX_TICKET_TTL) -> float:
    """``ttl`` if it is a finite number of seconds above 0 and at most ``max_ttl``, else
    ``TokenError`` saying what is allowed."""
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl <= 0:
        raise TokenError(f"ttl must be a number of seconds above 0 and at most {max_ttl:g}, got {ttl!r}")
    if ttl > max_ttl:
        raise TokenError(f"ttl {ttl:g} is above the maximum ticket lifetime of {max_ttl:g} seconds")
    return float(ttl)


def max_ttl_from(raw: str | None) -> float:
    """The maximum ticket lifetime a deployment configured (``KASAGI_MAX_TICKET_TTL``, seconds;
    unset or empty: :data:`MAX_TICKET_TTL`); ``TokenError`` for anything but a finite number
    above 0."""
    if raw is None or not raw.strip():
        return MAX_TICKET_TTL
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise TokenError(f"KASAGI_MAX_TICKET_TTL must be a number of seconds above 0, got {raw[:40]!r}")
    return value


def mint_token(
    authid: str, secret: bytes, now: float, ttl: float, max_ttl: float = MAX_TICKET_TTL, *, role: str = "client"
) -> str:
    """A ticket for ``authid`` valid for ``ttl`` seconds from ``now`` (at most ``max_ttl``;
    ``role``: one of :data:`ROLES`; a client ticket names none)."""
    check_authid(authid)
    check_ttl(ttl, max_ttl)
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


def verify_token(token: object, authid: str, secret: bytes, now: float, max_ttl: float = MAX_TICKET_TTL) -> str:
    """The role of ``token`` if it is a valid, unexpired ticket for ``authid`` that expires within
    ``max_ttl`` seconds; else ``TokenError`` (for any ``token`` whatever: text of any kind,
    bytes, other types)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed ticket")
    if not _TICKET_RE.fullmatch(token):
        raise TokenError("malformed ticket: expected v1.<payload>.<signature>")
    parts = token.split(".")
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
    if claims["exp"] > now + max_ttl + CLOCK_SKEW:
        raise TokenError(f"ticket lives longer than the maximum ticket lifetime of {max_ttl:g} seconds")
    role = claims.get("role", "client")
    if role not in ROLES:
        raise TokenError(f"ticket names an unknown role {role!r}")
    return str(role)
