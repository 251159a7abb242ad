"""The lobby's client calls, validated at the boundary into frozen values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kasagi.core.commands import _bind
from kasagi.core.errors import InvalidArgument, describe
from kasagi.core.listing import check_filter
from kasagi.core.roomtypes.base import RoomType
from kasagi.wire import OPEN_MEMBERS

__all__ = ["ListQuery", "MatchQuery", "RoomTypes", "room_type_named"]

#: The room types a process serves, by name.
RoomTypes = Mapping[str, type[RoomType]]


def room_type_named(raw: Any, types: Mapping[str, type[RoomType]]) -> type[RoomType]:
    """The room type a call names, or ``InvalidArgument`` naming the known ones: in words
    (``expected``), as the list ``types`` and, of those, the ones whose rooms are listed (and
    so can be matched) as ``listed`` -- how a client learns which types a node serves."""
    if not isinstance(raw, str) or raw not in types:
        raise InvalidArgument(
            "unknown room type",
            field="type",
            expected="one of " + ", ".join(sorted(types)),
            got=describe(raw) if raw is not None else "missing",
            types=sorted(types),
            listed=sorted(name for name, kind in types.items() if kind.listing is not RoomType.listing),
        )
    return types[raw]


@dataclass(frozen=True)
class ListQuery:
    """``kasagi.lobby.list(type, filter={}, cursor=null)``."""

    type: str
    filter: dict[str, Any]
    cursor: Any

    @classmethod
    def from_wamp(cls, args: Sequence[Any], kwargs: Mapping[str, Any], types: RoomTypes) -> ListQuery:
        bound = _bind(args, kwargs, ("type", "filter", "cursor"), "list")
        kind = room_type_named(bound.get("type"), types)
        return cls(kind.name, check_filter(bound.get("filter"), "filter", kind.listing_keys), bound.get("cursor"))


@dataclass(frozen=True)
class MatchQuery:
    """``kasagi.lobby.match(type, criteria={})``."""

    type: str
    criteria: dict[str, Any]

    @classmethod
    def from_wamp(cls, args: Sequence[Any], kwargs: Mapping[str, Any], types: RoomTypes) -> MatchQuery:
        bound = _bind(args, kwargs, ("type", "criteria"), "match")
        kind = room_type_named(bound.get("type"), types)
        raw = bound.get("criteria")
        if isinstance(raw, Mapping) and OPEN_MEMBERS in raw:
            raise InvalidArgument(
                "matchmaking never seats anyone in a private room",
                field=f"criteria.{OPEN_MEMBERS}",
                expected="no member list: open a private room by name with kasagi.lobby.open",
                got=describe(raw[OPEN_MEMBERS]),
            )
        return cls(kind.name, check_filter(raw, "criteria", kind.listing_keys))
