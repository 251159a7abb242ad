"""Build the :class:`~kasagi.lobby.interface.ListingStore` that goes with a room store spec:
the listing lives where the rooms do -- in memory for ``memory``, in ``lobby.sqlite3`` beside
the rooms' file for ``sqlite``/``sqlite:PATH``, and in the same Redis for ``redis://``
(where every router and worker of a cluster reads it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed

from kasagi.lobby.interface import ListingStore
from kasagi.lobby.memory import MemoryListingStore
from kasagi.store.factory import STORE_KINDS, sqlite_path

__all__ = ["listing_path", "open_listings"]


def listing_path(spec: str, data_dir: str | Path = "") -> Path | None:
    """The listing file beside a ``sqlite`` store's file (None for other kinds)."""
    rooms = sqlite_path(spec, data_dir)
    if rooms is None:
        return None
    return rooms.with_name(rooms.stem + "-lobby.sqlite3") if spec != "sqlite" else rooms.with_name("lobby.sqlite3")


def open_listings(spec: str, reactor: Any, *, data_dir: str | Path = "") -> Deferred[ListingStore]:
    """Open the listing store of the room store ``spec``."""
    if spec == "memory":
        return succeed(MemoryListingStore())
    path = listing_path(spec, data_dir)
    if path is not None:
        from kasagi.lobby.sqlite import SqliteListingStore

        return SqliteListingStore.open(path, reactor)  # type: ignore[return-value]
    if spec.startswith("redis://"):
        from kasagi.lobby.redis import RedisListingStore

        try:
            return RedisListingStore.open(spec, reactor)  # type: ignore[return-value]
        except ValueError as exc:
            return fail(exc)
    return fail(ValueError(f"unknown store {spec!r}: expected {STORE_KINDS}"))
