"""What a client may do on the router: the rules of the dynamic authorizer (pure).

A client (role ``client``) may

- call ``kasagi.lobby.open``, ``kasagi.lobby.list``, ``kasagi.lobby.match`` and
  ``kasagi.room.<room>.join|act|leave`` (the router discloses the caller, so the room service
  knows the member);
- subscribe to exactly ``kasagi.lobby.rooms.<type>`` (the public listing changes of a room
  type; private rooms are never listed);
- subscribe to exactly ``kasagi.room.<room>`` (``match`` must be ``exact``: no prefix or
  wildcard subscriptions that would read many rooms), and only if the room is public or
  lists the member (a private room; the authorizer asks the room service, see
  :func:`admits`);
- publish to exactly ``kasagi.input.<room>`` (the fast input path; the router discloses the
  publisher, and the room's owner refuses inputs of sessions that have not joined the room);

and nothing else: no other publish, no register, no meta API, no backend procedures, and no
``forward_for`` (which would make the router disclose someone else as the caller; the room
service refuses such invocations too, since a cached call permission skips this check).

Caching. The router caches a decision per (realm, role, URI, action) for *every* session of
the role, forever, and ignores the subscription's ``match``. So:

- subscribe decisions are never cached (they depend on the member, and a cached exact
  subscription would also admit a later prefix subscription to the same URI);
- refusals are never cached (their URIs are unbounded: caching them would let a client
  grow the router's cache without limit);
- call and input-publish permissions depend on the URI alone and are cached, but only for the first
  :data:`CALL_CACHE_LIMIT` distinct URIs (:class:`CacheBudget`): room ids are unbounded too.
  Beyond the budget the router simply asks again on every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kasagi import wire

__all__ = ["CALL_CACHE_LIMIT", "DENY", "CacheBudget", "RoomCheck", "admits", "authorize_client"]

DENY: dict[str, Any] = {"allow": False, "cache": False}
#: How many distinct call URIs the router may cache for the client role.
CALL_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class RoomCheck:
    """The decision needs the room's member list: allow iff :func:`admits` says so."""

    room: str


def _room_of_topic(uri: str) -> str | None:
    if not uri.startswith(wire.ROOM_PREFIX):
        return None
    room = uri[len(wire.ROOM_PREFIX) :]
    return room if wire.ROOM_ID_RE.fullmatch(room) else None


_LOBBY_PROCEDURES = frozenset({wire.LOBBY_OPEN, wire.LOBBY_LIST, wire.LOBBY_MATCH})


def _is_lobby_topic(uri: str) -> bool:
    return uri.startswith(wire.LOBBY_TOPIC_PREFIX) and bool(
        wire.ROOM_TYPE_RE.fullmatch(uri[len(wire.LOBBY_TOPIC_PREFIX) :])
    )


def _is_input_topic(uri: str) -> bool:
    return uri.startswith(wire.INPUT_PREFIX) and bool(wire.ROOM_ID_RE.fullmatch(uri[len(wire.INPUT_PREFIX) :]))


def _is_room_procedure(uri: str) -> bool:
    if not uri.startswith(wire.ROOM_PREFIX):
        return False
    room, _, verb = uri[len(wire.ROOM_PREFIX) :].rpartition(".")
    return verb in wire.ROOM_VERBS and bool(wire.ROOM_ID_RE.fullmatch(room))


def authorize_client(uri: str, action: str, options: Mapping[str, Any] | None) -> dict[str, Any] | RoomCheck:
    """The authorization of one action of a client session: a decision for the router, or
    a :class:`RoomCheck` when it depends on who may read the room."""
    if (options or {}).get("forward_for"):
        # Only router-to-router links forward; a client claiming to is forging a caller.
        return DENY
    if action == "call":
        if uri in _LOBBY_PROCEDURES or _is_room_procedure(uri):
            return {"allow": True, "disclose": True, "cache": True}
        return DENY
    if action == "subscribe":
        match = (options or {}).get("match") or "exact"
        room = _room_of_topic(uri)
        if match == "exact" and room is not None:
            return RoomCheck(room)
        if match == "exact" and _is_lobby_topic(uri):
            return {"allow": True, "cache": False}
        return DENY
    if action == "publish":
        if _is_input_topic(uri):
            return {"allow": True, "disclose": True, "cache": True}
        return DENY
    return DENY


def admits(access: Mapping[str, Any] | None, authid: str | None) -> bool:
    """Whether the room service's answer to ``kasagi.backend.room_access`` lets ``authid``
    read the room: a public (or not yet created) room admits everyone, a private one only
    its members. An answer that is not understood admits no one."""
    if not isinstance(access, Mapping):
        return False
    members = access.get(wire.OPEN_MEMBERS)
    if members is None:
        return True
    return isinstance(members, list) and isinstance(authid, str) and authid in members


class CacheBudget:
    """Lets the router cache at most ``limit`` distinct decisions.

    The router asks only on a cache miss, so the URIs this budget granted are exactly those
    it holds (a concurrent miss may ask twice; it is counted once).
    """

    def __init__(self, limit: int = CALL_CACHE_LIMIT) -> None:
        self.limit = limit
        self._granted: set[str] = set()

    def apply(self, uri: str, decision: dict[str, Any]) -> dict[str, Any]:
        """``decision``, with ``cache`` turned off once the budget is spent."""
        if not decision.get("cache"):
            return decision
        if uri in self._granted or len(self._granted) < self.limit:
            self._granted.add(uri)
            return decision
        return {**decision, "cache": False}

    def __len__(self) -> int:
        return len(self._granted)
