"""Durable storage of rooms behind one interface (see :mod:`kasagi.store.interface`).

Implementations: :class:`MemoryRoomStore` (here), ``kasagi.store.sqlite.SqliteRoomStore``
(embedded, the default of ``kasagi up``) and ``kasagi.store.redis.RedisRoomStore``; build
one from a spec string with :func:`kasagi.store.factory.open_store`.
"""

from kasagi.store.interface import (
    CorruptRoom,
    CorruptStore,
    RoomExists,
    RoomStore,
    SeqConflict,
    StaleEpoch,
    StoredRoom,
    StoreError,
    StoreLimits,
    StoreUnavailable,
)
from kasagi.store.memory import MemoryRoomStore

__all__ = [
    "CorruptRoom",
    "CorruptStore",
    "MemoryRoomStore",
    "RoomExists",
    "RoomStore",
    "SeqConflict",
    "StaleEpoch",
    "StoreError",
    "StoreLimits",
    "StoreUnavailable",
    "StoredRoom",
]
