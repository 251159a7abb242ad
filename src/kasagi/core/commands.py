"""Client calls, validated at the boundary into frozen values.

Each procedure takes its arguments positionally (in the order of ``docs/protocol.md``) or by
keyword; :meth:`from_wamp` accepts either and refuses anything else with
``InvalidArgument`` naming the field. Sizes are bounded here too (``ValueLimits``, member
lists), before anything reaches a room.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kasagi.core.access import RoomAccess, split_open_options
from kasagi.core.errors import InvalidArgument, describe
from kasagi.core.room import StreamPosition
from kasagi.core.values import MAX_SAFE_INTEGER, ValueLimits, check_value
from kasagi.wire import AUTHID_RE, ROOM_ID_RE

__all__ = [
    "AccessQuery",
    "ActCommand",
    "AdminCloseCommand",
    "AdminRemoveCommand",
    "InspectCommand",
    "JoinCommand",
    "LeaveCommand",
    "OpenCommand",
    "parse_room_id",
]

DEFAULT_TYPE = "arena"
MAX_TYPE_NAME = 64
#: Default bound of a private room's member list (the service passes its own).
DEFAULT_MAX_MEMBERS = 1000


def _bind(args: Sequence[Any], kwargs: Mapping[str, Any], names: Sequence[str], call: str) -> dict[str, Any]:
    """Map positional and keyword arguments onto ``names``; refuse extras and doubles."""
    if len(args) > len(names):
        raise InvalidArgument(
            f"{call} takes at most {len(names)} arguments",
            field="args",
            expected=", ".join(names) or "no arguments",
            got=f"{len(args)} positional arguments",
        )
    bound = dict(zip(names, args, strict=False))  # fewer args than names is fine; more was refused above
    for key, value in kwargs.items():
        if key not in names:
            name = str(key)[:64]
            raise InvalidArgument(
                f"{call} has no argument {name!r}",
                field=name,
                expected="one of " + ", ".join(names) if names else "no arguments",
                got=describe(value),
            )
        if key in bound:
            raise InvalidArgument(f"{call} got {key!r} twice", field=key, expected="once", got="twice")
        bound[key] = value
    return bound


def parse_room_id(raw: Any, field: str = "room") -> str:
    if not isinstance(raw, str) or not ROOM_ID_RE.fullmatch(raw):
        raise InvalidArgument(
            "malformed room id", field=field, expected=f"a string matching {ROOM_ID_RE.pattern}", got=describe(raw)
        )
    return raw


def _options(raw: Any, field: str, limits: ValueLimits | None = None) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{field} must be a map", field=field, expected="a map", got=describe(raw))
    if limits is None:
        check_value(raw, field)
    else:
        check_value(raw, field, limits)
    return raw


@dataclass(frozen=True)
class OpenCommand:
    """``kasagi.lobby.open(room, type="arena", options={})``.

    ``options`` are the room type's own; the lobby-level ``members`` (a private room's member
    list) is split off into :attr:`access` (None when not given).
    """

    room: str
    type: str
    options: dict[str, Any]
    access: RoomAccess | None = None

    @classmethod
    def from_wamp(
        cls,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        limits: ValueLimits | None = None,
        max_members: int = DEFAULT_MAX_MEMBERS,
    ) -> OpenCommand:
        bound = _bind(args, kwargs, ("room", "type", "options"), "open")
        if "room" not in bound:
            raise InvalidArgument("open needs a room", field="room", expected="a room id", got="missing")
        room = parse_room_id(bound["room"])
        kind = bound.get("type", DEFAULT_TYPE)
        if kind is None:
            kind = DEFAULT_TYPE
        if not isinstance(kind, str) or not 1 <= len(kind) <= MAX_TYPE_NAME:
            raise InvalidArgument(
                "type must be a room type name",
                field="type",
                expected=f"a room type name of 1 to {MAX_TYPE_NAME} characters",
                got=describe(kind),
            )
        members, options = split_open_options(_options(bound.get("options"), "options", limits))
        return cls(room, kind, options, RoomAccess.parse(members, max_members))


@dataclass(frozen=True)
class JoinCommand:
    """``kasagi.room.<room>.join(since=null)``."""

    since: StreamPosition | None

    @classmethod
    def from_wamp(cls, args: Sequence[Any], kwargs: Mapping[str, Any]) -> JoinCommand:
        bound = _bind(args, kwargs, ("since",), "join")
        return cls(StreamPosition.parse(bound.get("since")))


@dataclass(frozen=True)
class AccessQuery:
    """``kasagi.backend.room_access(room)``: who may read a room (the router's authorizer asks)."""

    room: str

    @classmethod
    def from_wamp(cls, args: Sequence[Any], kwargs: Mapping[str, Any]) -> AccessQuery:
        bound = _bind(args, kwargs, ("room",), "room_access")
        if "room" not in bound:
            raise InvalidArgument("room_access takes the room id", field="room", expected="room", got="nothing")
        return cls(parse_room_id(bound["room"]))


@dataclass(frozen=True)
class LeaveCommand:
    """``kasagi.room.<room>.leave()``: no arguments (the member is the caller)."""

    @classmethod
    def from_wamp(cls, args: Sequence[Any], kwargs: Mapping[str, Any]) -> LeaveCommand:
        _bind(args, kwargs, (), "leave")
        return cls()


@dataclass(frozen=True)
class ActCommand:
    """``kasagi.room.<room>.act(action, args={}, cseq, instance=null)``."""

    action: str
    args: dict[str, Any]
    cseq: int
    #: The client instance (tab, device, process) of the member that sent it; 0: the
    #: member's default instance (``kasagi.core.results``).
    instance: int = 0

    @classmethod
    def from_wamp(cls, args: Sequence[Any], kwargs: Mapping[str, Any], limits: ValueLimits | None = None) -> ActCommand:
        bound = _bind(args, kwargs, ("action", "args", "cseq", "instance"), "act")
        action = bound.get("action")
        if not isinstance(action, str) or not action or len(action) > 64:
            raise InvalidArgument(
                "action must be a name", field="action", expected="a string of 1 to 64 characters", got=describe(action)
            )
        action_args = bound.get("args")
        if action_args is None:
            action_args = {}
        if not isinstance(action_args, dict):
            raise InvalidArgument("args must be a map", field="args", expected="a map", got=describe(action_args))
        if limits is None:
            check_value(action_args, "args")
        else:
            check_value(action_args, "args", limits)
        cseq = bound.get("cseq")
        if isinstance(cseq, bool) or not isinstance(cseq, int) or not 1 <= cseq <= MAX_SAFE_INTEGER:
            raise InvalidArgument(
                "cseq must be a positive integer",
                field="cseq",
                expected="an integer from 1 to 2**53 - 1",
                got=describe(cseq) if "cseq" in bound else "missing",
            )
        instance = bound.get("instance")
        if instance is None:
            instance = 0
        elif isinstance(instance, bool) or not isinstance(instance, int) or not 1 <= instance <= MAX_SAFE_INTEGER:
            raise InvalidArgument(
                "instance must be a positive integer",
                field="instance",
                expected="null or an integer from 1 to 2**53 - 1",
                got=describe(instance),
            )
        return cls(action, action_args, cseq, instance)


# -- the admin procedures (kasagi.admin.<process>.*) ------------------------------------------
#: The longest reason an admin may give for closing a room.
MAX_REASON = 200


@dataclass(frozen=True)
class InspectCommand:
    """``kasagi.admin.<process>.inspect(room)``."""

    room: str

    @classmethod
    def from_wamp(cls, args: Sequence[Any], kwargs: Mapping[str, Any]) -> InspectCommand:
        return cls(parse_room_id(_bind(args, kwargs, ("room",), "inspect").get("room")))


@dataclass(frozen=True)
class AdminRemoveCommand:
    """``kasagi.admin.<process>.remove(room, member)``."""

    room: str
    member: str

    @classmethod
    def from_wamp(cls, args: Sequence[Any], kwargs: Mapping[str, Any]) -> AdminRemoveCommand:
        bound = _bind(args, kwargs, ("room", "member"), "remove")
        member = bound.get("member")
        if not isinstance(member, str) or not AUTHID_RE.fullmatch(member):
            raise InvalidArgument(
                "member must be a member id", field="member", expected=AUTHID_RE.pattern, got=describe(member)
            )
        return cls(parse_room_id(bound.get("room")), member)


@dataclass(frozen=True)
class AdminCloseCommand:
    """``kasagi.admin.<process>.close(room, reason="")``."""

    room: str
    reason: str

    @classmethod
    def from_wamp(cls, args: Sequence[Any], kwargs: Mapping[str, Any]) -> AdminCloseCommand:
        bound = _bind(args, kwargs, ("room", "reason"), "close")
        reason = bound.get("reason", "")
        if reason is None:
            reason = ""
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise InvalidArgument(
                "reason must be a short text",
                field="reason",
                expected=f"a string of at most {MAX_REASON} characters",
                got=describe(reason),
            )
        return cls(parse_room_id(bound.get("room")), reason)
