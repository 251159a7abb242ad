"""The built-in room types ``arena`` and ``doc`` (written against :mod:`kasagi.rooms`, like any
other room type), and the registry that builds a room type by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kasagi.rooms import InvalidArgument, RoomType, describe
from kasagi.roomtypes.arena import Arena
from kasagi.roomtypes.doc import Doc

__all__ = ["BUILTIN_TYPES", "Arena", "Doc", "make_room_type"]

BUILTIN_TYPES: Mapping[str, type[RoomType]] = {Arena.name: Arena, Doc.name: Doc}


def make_room_type(
    name: Any, options: Mapping[str, Any], types: Mapping[str, type[RoomType]] = BUILTIN_TYPES
) -> RoomType:
    """Build the named room type with its options, or raise ``InvalidArgument``."""
    if not isinstance(name, str) or name not in types:
        raise InvalidArgument(
            "unknown room type",
            field="type",
            expected="one of " + ", ".join(sorted(types)),
            got=describe(name),
        )
    return types[name].from_options(options)
