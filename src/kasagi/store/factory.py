"""Build a :class:`~kasagi.store.interface.RoomStore` from its spec string.

- ``memory`` -- nothing survives the process (tests, demos);
- ``sqlite`` -- the embedded store in ``<data_dir>/rooms.sqlite3`` (the default of ``kasagi up``);
  ``sqlite:PATH`` -- at PATH (relative to ``data_dir``);
- ``redis://host:port/db`` -- Redis (``redis://:password@host:port/db`` with a password).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed

from kasagi.store.interface import NowMs, RoomStore, StoreLimits, wall_ms
from kasagi.store.memory import MemoryRoomStore

__all__ = ["SQLITE_FILE", "STORE_KINDS", "describe_store", "open_store", "sqlite_path"]

#: The embedded store's file name inside the data directory.
SQLITE_FILE = "rooms.sqlite3"
STORE_KINDS = "memory | sqlite | sqlite:PATH | redis://host:port/db"


def sqlite_path(spec: str, data_dir: str | Path = "") -> Path | None:
    """The file a ``sqlite`` / ``sqlite:PATH`` spec names, or None for another kind."""
    if spec == "sqlite":
        return Path(data_dir or ".") / SQLITE_FILE
    if spec.startswith("sqlite:"):
        return Path(data_dir or ".") / spec[len("sqlite:") :]
    return None


def describe_store(spec: str) -> str:
    """The spec without a password, for logs."""
    if spec.startswith("redis://") and "@" in spec:
        return "redis://***@" + spec.split("@", 1)[1]
    return spec


def open_store(
    spec: str,
    reactor: Any,
    *,
    limits: StoreLimits | None = None,
    data_dir: str | Path = "",
    now_ms: NowMs = wall_ms,
    deadline: float = 2.0,
) -> Deferred[RoomStore]:
    """Open the store ``spec`` names (see the module docstring)."""
    limits = limits or StoreLimits()
    if spec == "memory":
        return succeed(MemoryRoomStore(limits=limits, now_ms=now_ms))
    path = sqlite_path(spec, data_dir)
    if path is not None:
        from kasagi.store.sqlite import SqliteRoomStore

        return SqliteRoomStore.open(path, reactor, limits=limits, now_ms=now_ms, busy_timeout=deadline)  # type: ignore[return-value]
    if spec.startswith("redis://"):
        from kasagi.store.redis import RedisRoomStore

        try:
            return RedisRoomStore.open(
                spec, reactor, limits=limits, now_ms=now_ms, reply_timeout=max(5.0, 3 * deadline)
            )  # type: ignore[return-value]
        except ValueError as exc:
            return fail(exc)
    return fail(ValueError(f"unknown store {spec!r}: expected {STORE_KINDS}"))
