"""The pure room core: validation, room state, delta ops and the client replica; no I/O, no
Twisted, no Autobahn (it imports only :mod:`kasagi.wire`).

These are the names the other layers use. A room type's own constants stay in its module
(:mod:`kasagi.core.roomtypes.arena`, ...).
"""

from kasagi.core.access import PUBLIC, RoomAccess, split_open_options
from kasagi.core.canonical import canonical_bytes, state_hash
from kasagi.core.commands import AccessQuery, ActCommand, JoinCommand, LeaveCommand, OpenCommand, parse_room_id
from kasagi.core.errors import (
    Full,
    InvalidArgument,
    KasagiError,
    NoSuchRoom,
    NotAuthorized,
    NotMember,
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
from kasagi.core.room import Accepted, AckKey, Applied, Batch, Room, RoomConfig
from kasagi.core.roomtypes import BUILTIN_TYPES, RoomType, make_room_type
from kasagi.core.values import MAX_SAFE_INTEGER, ValueLimits, copy_value

__all__ = [
    "BUILTIN_TYPES",
    "MAX_SAFE_INTEGER",
    "PUBLIC",
    "Accepted",
    "AccessQuery",
    "AckKey",
    "ActCommand",
    "Applied",
    "Batch",
    "Full",
    "InvalidArgument",
    "JoinCommand",
    "KasagiError",
    "LeaveCommand",
    "NoSuchRoom",
    "NotAuthorized",
    "NotMember",
    "OpError",
    "OpenCommand",
    "RateLimited",
    "RateLimiter",
    "Rejected",
    "Room",
    "RoomAccess",
    "RoomConfig",
    "RoomDamaged",
    "RoomReplica",
    "RoomType",
    "Unavailable",
    "ValueLimits",
    "Verdict",
    "apply_ops",
    "canonical_bytes",
    "copy_value",
    "describe",
    "make_room_type",
    "parse_room_id",
    "sendable",
    "split_open_options",
    "state_hash",
]
