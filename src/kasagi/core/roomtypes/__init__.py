"""The base class of room types and the one way to build a room type by name (the built-in
types and their registry live in :mod:`kasagi.roomtypes`, written against the public
:mod:`kasagi.rooms`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kasagi.core.errors import InvalidArgument, describe
from kasagi.core.roomtypes.base import RoomType, int_option, require_keys, require_options

__all__ = ["RoomType", "int_option", "make_room_type", "require_keys", "require_options"]


def make_room_type(name: Any, options: Mapping[str, Any], types: Mapping[str, type[RoomType]]) -> RoomType:
    """Build the room type called ``name`` among ``types`` with its options, or raise
    ``InvalidArgument``."""
    if not isinstance(name, str) or name not in types:
        raise InvalidArgument(
            "unknown room type",
            field="type",
            expected="one of " + ", ".join(sorted(types)),
            got=describe(name),
        )
    return types[name].from_options(options)
