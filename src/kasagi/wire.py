"""The wire vocabulary of Kasagi protocol v1, in one place.

Every URI the code registers, calls, publishes or subscribes to is built here, and a test
checks each one against the permissions in ``.crossbar/config.json``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

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
#: The listed rooms of a type, filtered and paginated.
LOBBY_LIST: Final = "kasagi.lobby.list"
#: A seat in a listed room of a type (a new room when none fits).
LOBBY_MATCH: Final = "kasagi.lobby.match"
#: Listing changes of the rooms of one type are published on ``kasagi.lobby.rooms.<type>``.
LOBBY_TOPIC_PREFIX: Final = "kasagi.lobby.rooms."
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

#: The role of a client session (every ticket the authenticator accepts, unless admin).
CLIENT_ROLE: Final = "client"

# -- the admin surface (the monitor) -----------------------------------------------------------
#: The role of an admin session (a ticket minted with ``kasagi token USER --role admin``).
ADMIN_ROLE: Final = "admin"
#: Admin-only procedures and topics: the router permits them to the ``admin`` role alone.
ADMIN_PREFIX: Final = "kasagi.admin."
#: Each room-service process publishes a bounded summary of itself and its rooms here, about
#: once a second (``docs/monitor.md``).
ADMIN_SUMMARY: Final = "kasagi.admin.summary"
#: The admin procedures of one process (``kasagi.admin.<process>.inspect|close|remove``):
#: the summary names the process that owns each room.
ADMIN_VERBS: Final = ("inspect", "close", "remove")
#: A process id in the admin URIs: a valid strict WAMP URI component.
PROCESS_ID_RE: Final = re.compile(r"^[a-z0-9_]{1,64}$")
#: The ``notices`` of an event: what happened to the room besides its ops (``docs/protocol.md``).
NOTICE_REMOVED: Final = "removed"
NOTICE_CLOSED: Final = "closed"


def room_topic(room: str) -> str:
    """The topic on which the owner of ``room`` publishes its events."""
    return ROOM_PREFIX + room


def lobby_topic(room_type: str) -> str:
    """The topic on which the listing changes of the rooms of ``room_type`` are published."""
    return LOBBY_TOPIC_PREFIX + room_type


def room_procedure(room: str, verb: str) -> str:
    """The URI of one of the room's procedures (``join``, ``act`` or ``leave``)."""
    return f"{ROOM_PREFIX}{room}.{verb}"


def room_wildcard(verb: str) -> str:
    """The wildcard URI that matches ``verb`` of every room (``kasagi.room..join``)."""
    return f"{ROOM_PREFIX}.{verb}"


def worker_procedure(worker: str, verb: str) -> str:
    """A procedure only ``worker`` registers (``open``: serve a room there)."""
    return f"{WORKER_PREFIX}{worker}.{verb}"


def admin_procedure(process: str, verb: str) -> str:
    """An admin procedure of one room-service process (``inspect``, ``close``, ``remove``)."""
    return f"{ADMIN_PREFIX}{process}.{verb}"


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
    #: An ``act`` whose cseq (or client instance) the room can no longer answer for: it may
    #: have been applied, and it is never applied again.
    OUTCOME_UNKNOWN: Final = "kasagi.error.outcome_unknown"


class WampErrorURI:
    """The router's (and Autobahn's) error URIs that a client recovers from or must not."""

    NO_SUCH_PROCEDURE: Final = "wamp.error.no_such_procedure"
    #: The router's authorizer had no answer (the room service is restarting, moving the
    #: room, or its store is down): nothing was subscribed or called.
    AUTHORIZATION_FAILED: Final = "wamp.error.authorization_failed"
    NOT_AUTHORIZED: Final = "wamp.error.not_authorized"
    CANCELED: Final = "wamp.error.canceled"
    TIMEOUT: Final = "wamp.error.timeout"
    TRANSPORT_LOST: Final = "wamp.close.transport_lost"


class ClientErrorURI:
    """Raised by a client itself, never sent by a server."""

    #: No answer within the deadline: the call may or may not have happened.
    TIMEOUT: Final = "kasagi.client.timeout"
    #: The connection dropped before the answer.
    CONNECTION_LOST: Final = "kasagi.client.connection_lost"
    #: The client was closed by its user.
    CLOSED: Final = "kasagi.client.closed"


class Recovery(enum.Enum):
    """What a client does after a call failed with an error URI."""

    #: Call again with the same arguments (an ``act`` keeps its cseq) after a backoff: nothing
    #: was applied, or it was and the room answers the retry with the first result.
    RETRY = "retry"
    #: Open the room again (``kasagi.lobby.open``: its owner restarted or moved), join it,
    #: then retry.
    REOPEN = "reopen"
    #: Join the room again (its owner forgot this session), then retry with the same cseq.
    REJOIN = "rejoin"
    #: Final now: hand the error to the caller at once. The same call may succeed later (a
    #: capacity limit), so the server marks it ``retryable``; waiting is the caller's choice
    #: (pick another room, or try again when a seat is free), not a silent client loop.
    LATER = "later"
    #: Final: the same call can't succeed; hand the error to the caller.
    GIVE_UP = "give_up"

    @property
    def final(self) -> bool:
        """Whether the client hands the error to its caller instead of trying again itself."""
        return self in (Recovery.GIVE_UP, Recovery.LATER)


#: The one table of what a client does with each error (``docs/protocol.md``, Errors). The
#: server's ``retryable`` detail is true exactly for :attr:`Recovery.RETRY` and
#: :attr:`Recovery.LATER`; an URI not in the table is final.
ERROR_POLICY: Final[Mapping[str, Recovery]] = MappingProxyType(
    {
        ErrorURI.INVALID_ARGUMENT: Recovery.GIVE_UP,
        ErrorURI.REJECTED: Recovery.GIVE_UP,
        ErrorURI.NOT_MEMBER: Recovery.REJOIN,
        ErrorURI.NO_SUCH_ROOM: Recovery.REOPEN,
        ErrorURI.RATE_LIMITED: Recovery.RETRY,
        ErrorURI.FULL: Recovery.LATER,
        ErrorURI.UNAVAILABLE: Recovery.RETRY,
        ErrorURI.NOT_AUTHORIZED: Recovery.GIVE_UP,
        ErrorURI.INTERNAL: Recovery.GIVE_UP,
        ErrorURI.OUTCOME_UNKNOWN: Recovery.GIVE_UP,
        WampErrorURI.NO_SUCH_PROCEDURE: Recovery.REOPEN,
        WampErrorURI.AUTHORIZATION_FAILED: Recovery.RETRY,
        WampErrorURI.NOT_AUTHORIZED: Recovery.GIVE_UP,
        WampErrorURI.CANCELED: Recovery.RETRY,
        WampErrorURI.TIMEOUT: Recovery.RETRY,
        WampErrorURI.TRANSPORT_LOST: Recovery.RETRY,
        ClientErrorURI.TIMEOUT: Recovery.RETRY,
        ClientErrorURI.CONNECTION_LOST: Recovery.RETRY,
        ClientErrorURI.CLOSED: Recovery.GIVE_UP,
    }
)


def recovery(uri: str, details: Mapping[str, Any] | None = None) -> Recovery:
    """What a client does after an error ``uri`` with keyword ``details``: the table's entry,
    except that a retry the server marks ``retryable: false`` (a room whose stored data is
    damaged) is final. An unknown URI is final."""
    action = ERROR_POLICY.get(uri, Recovery.GIVE_UP)
    if action is Recovery.RETRY and details is not None and details.get("retryable") is False:
        return Recovery.GIVE_UP
    return action


def retryable(uri: str) -> bool:
    """The server's ``retryable`` detail for ``uri``: whether the same call, as it is, may
    succeed later."""
    return ERROR_POLICY.get(uri, Recovery.GIVE_UP) in (Recovery.RETRY, Recovery.LATER)


# -- event ops ---------------------------------------------------------------------------------
OP_SET: Final = "set"
OP_DEL: Final = "del"

#: State subtrees only the room's owner writes (``members``: presence; ``timers``: the room's
#: durable timers, written through ``set_timer``/``cancel_timer`` effects).
SERVER_OWNED: Final = frozenset({"members", "timers"})
#: The top-level state key that holds a room's durable timers: ``{name: {"at": ms, "data": v}}``.
TIMERS_KEY: Final = "timers"
#: The top-level state key of per-member private state: ``{member: value}``. Room types write
#: ``private.<member>`` through ordinary effects; each member receives only its own entry
#: (its *view*, ``docs/protocol.md``, Private state), and no client writes it.
PRIVATE_KEY: Final = "private"


# -- limits and windows ------------------------------------------------------------------------
class Limits:
    """Default limits and windows of the protocol (``docs/protocol.md``, Limits and Events),
    defined once; each layer converts them to its units (the core counts milliseconds, the
    service's settings and the stores seconds)."""

    #: The state hash rides in every K-th event.
    HASH_EVERY: Final = 100
    #: cseq results kept per client instance of a member (the exactly-once window) ...
    RESULTS_PER_MEMBER: Final = 64
    #: ... and client instances kept per member besides its default one.
    INSTANCES_PER_MEMBER: Final = 16
    #: How long an offline member keeps its place.
    GRACE_MS: Final = 30_000
    #: History: at least this many events ...
    HISTORY_EVENTS: Final = 1000
    #: ... and every event younger than this ...
    HISTORY_MIN_AGE_MS: Final = 120_000
    #: ... but never more than this many.
    HISTORY_HARD_CAP: Final = 100_000
    #: Client-supplied values: nesting, nodes, characters of one string.
    MAX_DEPTH: Final = 32
    MAX_NODES: Final = 10_000
    MAX_STRING: Final = 16_384
    #: Actions per second per member (token bucket refill) and the bucket's size.
    ACTION_RATE: Final = 200.0
    ACTION_BURST: Final = 200.0
    #: Members per room, rooms per room-service process, bytes of compact JSON per state.
    MAX_MEMBERS: Final = 1000
    MAX_ROOMS: Final = 10_000
    MAX_STATE_BYTES: Final = 1_048_576
    #: Live rooms one member may have opened (loaded or created) in one room-service process.
    MAX_ROOMS_PER_MEMBER: Final = 100
    #: Seconds an empty room (no one online, grace over, no timer) stays loaded.
    ROOM_IDLE_MS: Final = 60_000
    #: Router sessions one member may hold at once, and subscriptions one session may hold.
    MAX_SESSIONS_PER_MEMBER: Final = 100
    MAX_SUBSCRIPTIONS_PER_SESSION: Final = 500
    #: Bytes the router may hold unsent for one client before it drops the client.
    MAX_CLIENT_BUFFER: Final = 4_194_304
    #: Bytes of compact JSON of the ops of one action, and of all the actions of one event.
    MAX_EVENT_BYTES: Final = 262_144
    #: Bytes of events a catch-up may carry; a join that would need more gets a snapshot.
    MAX_CATCHUP_BYTES: Final = 1_048_576
    #: History in memory: bytes of events per room (a longer catch-up is never sent, so
    #: keeping more would not help) and per room-service process (all its rooms together).
    HISTORY_ROOM_BYTES: Final = 1_048_576
    HISTORY_PROCESS_BYTES: Final = 67_108_864
    #: History in the store: bytes of events kept per room besides those after its snapshot
    #: (a catch-up never needs more), and the bytes of events after which a room saves a
    #: snapshot (besides every 500 events), so the stored tail stays bounded too.
    STORE_HISTORY_BYTES: Final = 4_194_304
    SNAPSHOT_BYTES: Final = 4_194_304
    #: The router's public WebSocket transport: largest message a client may send (protects
    #: the router) and largest it is sent (a snapshot of the largest state, with room for
    #: presence and for the serializers' overhead: CBOR and MessagePack spend 9 bytes on a
    #: float JSON writes in 4).
    INCOMING_MESSAGE_BYTES: Final = 65_536
    OUTGOING_MESSAGE_BYTES: Final = 4_194_304
    #: ``kasagi.lobby.match`` per second per member, and at once.
    MATCH_RATE: Final = 5.0
    MATCH_BURST: Final = 20.0
    #: ``kasagi.lobby.open`` per second per member, and at once.
    OPEN_RATE: Final = 50.0
    OPEN_BURST: Final = 500.0
    #: How long a seat reserved by ``kasagi.lobby.match`` waits for its member to join.
    RESERVATION_TTL_MS: Final = 10_000
    #: Rooms per page of ``kasagi.lobby.list``.
    LOBBY_PAGE: Final = 50
