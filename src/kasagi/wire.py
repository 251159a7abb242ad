"""The wire vocabulary of Kasagi protocol v1, in one place.

Every URI the code registers, calls, publishes or subscribes to is built here, and a test
checks each one against the permissions in ``.crossbar/config.json``.
"""

from __future__ import annotations

import re
from typing import Final

PROTOCOL_VERSION: Final = 1
REALM: Final = "kasagi"

#: A room id: a valid strict WAMP URI component. Match with ``fullmatch`` (``$`` alone
#: would also accept a trailing newline).
ROOM_ID_RE: Final = re.compile(r"^[a-z0-9_]{1,64}$")
#: A member id (the WAMP ``authid`` a client logs in with).
AUTHID_RE: Final = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
#: A room-type id (the ``type`` of ``kasagi.lobby.open``; a room type's ``name``).
ROOM_TYPE_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

# -- procedures and topics -------------------------------------------------------------------
LOBBY_OPEN: Final = "kasagi.lobby.open"
ROOM_PREFIX: Final = "kasagi.room."
INPUT_PREFIX: Final = "kasagi.input."
ROOM_VERBS: Final = ("join", "act", "leave")
#: The dynamic authenticator the router calls for WAMP-ticket logins.
AUTHENTICATE: Final = "kasagi.auth.authenticate"
#: The dynamic authorizer the router calls for client actions.
AUTHORIZE: Final = "kasagi.auth.authorize"
#: Backend-only procedures of one worker process of a cluster (``kasagi.worker.<id>.open``).
WORKER_PREFIX: Final = "kasagi.worker."
#: A worker id: a valid strict WAMP URI component.
WORKER_ID_RE: Final = re.compile(r"^[a-z0-9_]{1,64}$")
#: Backend-only: who may read a room (``{"room", "exists", "members"}``); the client
#: authorizer calls it to decide subscriptions to private rooms.
ROOM_ACCESS: Final = "kasagi.backend.room_access"
#: The key of ``kasagi.lobby.open``'s options that makes a room private (lobby level: it is
#: never passed to the room type).
OPEN_MEMBERS: Final = "members"
#: Router meta events the room service listens to.
META_SESSION_ON_LEAVE: Final = "wamp.session.on_leave"


def room_topic(room: str) -> str:
    """The topic on which the owner of ``room`` publishes its events."""
    return ROOM_PREFIX + room


def room_procedure(room: str, verb: str) -> str:
    """The URI of one of the room's procedures (``join``, ``act`` or ``leave``)."""
    return f"{ROOM_PREFIX}{room}.{verb}"


def room_wildcard(verb: str) -> str:
    """The wildcard URI that matches ``verb`` of every room (``kasagi.room..join``)."""
    return f"{ROOM_PREFIX}.{verb}"


def worker_procedure(worker: str, verb: str) -> str:
    """A procedure only ``worker`` registers (``open``: serve a room there)."""
    return f"{WORKER_PREFIX}{worker}.{verb}"


def input_topic(room: str) -> str:
    """The backend-only topic of the optional fast input path."""
    return INPUT_PREFIX + room


# -- errors ------------------------------------------------------------------------------------
class ErrorURI:
    """Stable error URIs; see ``docs/protocol.md`` (Errors) for when each is raised."""

    INVALID_ARGUMENT: Final = "kasagi.error.invalid_argument"
    REJECTED: Final = "kasagi.error.rejected"
    NOT_MEMBER: Final = "kasagi.error.not_member"
    NO_SUCH_ROOM: Final = "kasagi.error.no_such_room"
    RATE_LIMITED: Final = "kasagi.error.rate_limited"
    FULL: Final = "kasagi.error.full"
    UNAVAILABLE: Final = "kasagi.error.unavailable"
    NOT_AUTHORIZED: Final = "kasagi.error.not_authorized"
    INTERNAL: Final = "kasagi.error.internal"


# -- event ops ---------------------------------------------------------------------------------
OP_SET: Final = "set"
OP_DEL: Final = "del"

#: State subtrees only the room's owner writes (``members``: presence; ``timers``: the room's
#: durable timers, written through ``set_timer``/``cancel_timer`` effects).
SERVER_OWNED: Final = frozenset({"members", "timers"})
#: The top-level state key that holds a room's durable timers: ``{name: {"at": ms, "data": v}}``.
TIMERS_KEY: Final = "timers"
