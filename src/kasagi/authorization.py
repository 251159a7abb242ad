"""What a client may do on the router: the rules of the dynamic authorizer (pure).

A client (role ``client``) may

- call ``kasagi.lobby.open`` and ``kasagi.room.<room>.join|act|leave`` (the router discloses
  the caller, so the room service knows the member);
- subscribe to exactly ``kasagi.room.<room>`` (``match`` must be ``exact``: no prefix or
  wildcard subscriptions that would read many rooms);
- publish to exactly ``kasagi.input.<room>`` (the fast input path; the router discloses the
  publisher, and the room's owner refuses inputs of members that have not joined);

and nothing else: no other publish, no register, no meta API.

The router caches a decision per (realm, role, URI, action) for every session of the role and
ignores the subscription's ``match``; so call decisions (which depend on the URI alone) are
cached, and subscribe decisions are never cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kasagi import wire

__all__ = ["authorize_client"]

DENY: dict[str, Any] = {"allow": False, "cache": False}


def _room_of_topic(uri: str) -> str | None:
    if not uri.startswith(wire.ROOM_PREFIX):
        return None
    room = uri[len(wire.ROOM_PREFIX) :]
    return room if wire.ROOM_ID_RE.match(room) else None


def _is_input_topic(uri: str) -> bool:
    return uri.startswith(wire.INPUT_PREFIX) and bool(wire.ROOM_ID_RE.match(uri[len(wire.INPUT_PREFIX) :]))


def _is_room_procedure(uri: str) -> bool:
    if not uri.startswith(wire.ROOM_PREFIX):
        return False
    room, _, verb = uri[len(wire.ROOM_PREFIX) :].rpartition(".")
    return verb in wire.ROOM_VERBS and bool(wire.ROOM_ID_RE.match(room))


def authorize_client(uri: str, action: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The authorization of one action of a client session."""
    if action == "call":
        if uri == wire.LOBBY_OPEN or _is_room_procedure(uri):
            return {"allow": True, "disclose": True, "cache": True}
        return {"allow": False, "disclose": False, "cache": True}
    if action == "subscribe":
        match = (options or {}).get("match") or "exact"
        if match == "exact" and _room_of_topic(uri) is not None:
            return {"allow": True, "cache": False}
        return DENY
    if action == "publish":
        # A publish decision depends on the URI alone, so the router may cache it.
        if _is_input_topic(uri):
            return {"allow": True, "disclose": True, "cache": True}
        return {"allow": False, "cache": True}
    return DENY
