"""Build a :class:`~kasagi.store.interface.RoomStore` from its spec string."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime

from kasagi.store.interface import RoomStore
from kasagi.store.memory import MemoryRoomStore

__all__ = ["open_store"]


def open_store(spec: str, reactor: IReactorTime, *, history_events: int = 1000, results_per_member: int = 64) -> Deferred[RoomStore]:
    """``memory`` (nothing survives the process)."""
    if spec == "memory":
        return succeed(MemoryRoomStore(history_events=history_events, results_per_member=results_per_member))
    raise ValueError(f"unknown store {spec!r}: expected memory")
