"""Room types: the built-in ``arena`` and ``doc``, and the registry that names them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kasagi.core.errors import InvalidArgument, describe
from kasagi.core.roomtypes.arena import Arena
from kasagi.core.roomtypes.base import RoomType
from kasagi.core.roomtypes.doc import Doc

__all__ = ["BUILTIN_TYPES", "Arena", "Doc", "RoomType", "make_room_type"]

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
