"""Router-side rules, pure: who may log in (:mod:`kasagi.auth.tokens`, the tickets) and what
a client may do once in (:mod:`kasagi.auth.authorization`, the dynamic authorizer's rules),
and how much one member or session may hold (:mod:`kasagi.auth.quotas`).
The sessions that apply them are in ``router/``."""

from kasagi.auth.authorization import CALL_CACHE_LIMIT, DENY, CacheBudget, RoomCheck, admits, authorize_client
from kasagi.auth.quotas import SessionQuota, session_refusal, subscription_refusal
from kasagi.auth.tokens import (
    MAX_TICKET_TTL,
    ROLES,
    TokenError,
    check_authid,
    check_ttl,
    claimed_role,
    max_ttl_from,
    mint_token,
    verify_token,
)

__all__ = [
    "CALL_CACHE_LIMIT",
    "DENY",
    "MAX_TICKET_TTL",
    "ROLES",
    "CacheBudget",
    "RoomCheck",
    "SessionQuota",
    "TokenError",
    "admits",
    "authorize_client",
    "check_authid",
    "check_ttl",
    "claimed_role",
    "max_ttl_from",
    "mint_token",
    "session_refusal",
    "subscription_refusal",
    "verify_token",
]
