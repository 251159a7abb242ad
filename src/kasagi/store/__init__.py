"""Durable storage of rooms behind one interface (see :mod:`kasagi.store.interface`)."""

from kasagi.store.interface import RoomExists, RoomStore, SeqConflict, StaleEpoch, StoredRoom, StoreError
from kasagi.store.memory import MemoryRoomStore

__all__ = ["MemoryRoomStore", "RoomExists", "RoomStore", "SeqConflict", "StaleEpoch", "StoreError", "StoredRoom"]
