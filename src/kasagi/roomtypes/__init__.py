"""The built-in room types ``arena`` and ``doc`` (written against :mod:`kasagi.rooms`, like any
other room type), and the registry that builds a room type by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kasagi.core.roomtypes import make_room_type as build_room_type
from kasagi.rooms import RoomType
from kasagi.roomtypes.arena import Arena
from kasagi.roomtypes.doc import Doc

__all__ = ["BUILTIN_TYPES", "Arena", "Doc", "make_room_type"]

BUILTIN_TYPES: Mapping[str, type[RoomType]] = {Arena.name: Arena, Doc.name: Doc}


def make_room_type(
    name: Any, options: Mapping[str, Any], types: Mapping[str, type[RoomType]] = BUILTIN_TYPES
) -> RoomType:
    """Build the named room type with its options (the built-ins unless ``types`` says
    otherwise), or raise ``InvalidArgument``."""
    return build_room_type(name, options, types)
