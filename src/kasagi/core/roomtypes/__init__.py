"""The base class of room types (the built-in types and their registry live in
:mod:`kasagi.roomtypes`, written against the public :mod:`kasagi.rooms`)."""

from __future__ import annotations

from kasagi.core.roomtypes.base import RoomType, require_keys

__all__ = ["RoomType", "require_keys"]
