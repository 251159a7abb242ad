"""The pure room core: validation, room state, delta ops and the client replica; no I/O, no
Twisted, no Autobahn (it imports only :mod:`kasagi.wire`).

These are the names the other layers use. Room types themselves are written against the
public :mod:`kasagi.rooms`; the built-in ones live in :mod:`kasagi.roomtypes`.
"""

from kasagi.core.access import PUBLIC, RoomAccess, split_open_options
from kasagi.core.admission import AdmissionControl, AdmissionLimits, Refusal
from kasagi.core.canonical import canonical_bytes, state_hash
from kasagi.core.commands import AccessQuery, ActCommand, JoinCommand, LeaveCommand, OpenCommand, parse_room_id
from kasagi.core.errors import (
    Full,
    InvalidArgument,
    KasagiError,
    NoSuchRoom,
    NotAuthorized,
    NotMember,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    RoomDamaged,
    Unavailable,
    describe,
    sendable,
)
from kasagi.core.ops import OpError, apply_ops
from kasagi.core.ratelimit import RateLimiter
from kasagi.core.replica import RoomReplica, Verdict
from kasagi.core.replies import CatchUp, JoinReply, Snapshot
from kasagi.core.restore import CorruptRecord, Rebuilt, rebuild
from kasagi.core.room import Accepted, AckKey, Applied, Batch, Room, RoomConfig
from kasagi.core.roomtypes import RoomType, make_room_type
from kasagi.core.values import MAX_SAFE_INTEGER, ValueLimits, copy_value
from kasagi.core.views import Audience, Delivery, deliveries, event_for, view_of

__all__ = [
    "MAX_SAFE_INTEGER",
    "PUBLIC",
    "Accepted",
    "AccessQuery",
    "AckKey",
    "ActCommand",
    "AdmissionControl",
    "AdmissionLimits",
    "Applied",
    "Audience",
    "Batch",
    "CatchUp",
    "CorruptRecord",
    "Delivery",
    "Full",
    "InvalidArgument",
    "JoinCommand",
    "JoinReply",
    "KasagiError",
    "LeaveCommand",
    "NoSuchRoom",
    "NotAuthorized",
    "NotMember",
    "OpError",
    "OpenCommand",
    "OutcomeUnknown",
    "RateLimited",
    "RateLimiter",
    "Rebuilt",
    "Refusal",
    "Rejected",
    "Room",
    "RoomAccess",
    "RoomConfig",
    "RoomDamaged",
    "RoomReplica",
    "RoomType",
    "Snapshot",
    "Unavailable",
    "ValueLimits",
    "Verdict",
    "apply_ops",
    "canonical_bytes",
    "copy_value",
    "deliveries",
    "describe",
    "event_for",
    "make_room_type",
    "parse_room_id",
    "rebuild",
    "sendable",
    "split_open_options",
    "state_hash",
    "view_of",
]
