"""The listing store in SQLite (the embedded store of a single node): its own file beside the
rooms' (``lobby.sqlite3``), one connection on one thread, every operation one transaction
(``BEGIN IMMEDIATE``: a reservation reads and writes with no other writer in between, even
from another process sharing the file). Listings are rebuilt by their rooms' owners as they
change, so the file runs with ``synchronous=NORMAL``: a power loss may lose the last ones.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from kasagi.lobby.interface import ListedRoom, Seat
from kasagi.lobby.seats import Row, choose

__all__ = ["LOBBY_FILE", "SqliteListingStore"]

T = TypeVar("T")

#: The listing store's file name in the data directory.
LOBBY_FILE = "lobby.sqlite3"

_SELECT = "SELECT room, type, epoch, meta, members, max_members FROM listings WHERE {where} ORDER BY room LIMIT ?"
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS listings (
        room TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        meta TEXT NOT NULL,
        members INTEGER NOT NULL,
        max_members INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS listings_by_type ON listings (type, room)",
    """CREATE TABLE IF NOT EXISTS reservations (
        room TEXT NOT NULL,
        member TEXT NOT NULL,
        expires INTEGER NOT NULL,
        PRIMARY KEY (room, member)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS lobby_secret (id INTEGER PRIMARY KEY CHECK (id = 1), secret BLOB NOT NULL)",
)


class SqliteListingStore:
    """Listed rooms in one SQLite file. Build with :meth:`open`."""

    def __init__(self, path: Path, reactor: Any) -> None:
        self.path = path
        self._reactor = reactor
        self._pool = ThreadPool(1, 1, name="kasagi-lobby-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._trigger: Any = None

    @classmethod
    def open(cls, path: str | Path, reactor: Any) -> Deferred[SqliteListingStore]:
        store = cls(Path(path), reactor)
        store._pool.start()
        store._trigger = reactor.addSystemEventTrigger("during", "shutdown", store._pool.stop)
        return store._run(store._open).addCallback(lambda _: store)

    def _run(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        return deferToThreadPool(self._reactor, self._pool, fn, *args)

    def _open(self) -> None:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            conn.execute(statement)
        self._conn = conn

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # -- rows ------------------------------------------------------------------------------------
    @staticmethod
    def _rows(conn: sqlite3.Connection, where: str, params: Sequence[Any], limit: int = -1) -> list[Row]:
        rows = [
            Row(room, type_name, epoch, json.loads(meta), members, max_members)
            for room, type_name, epoch, meta, members, max_members in conn.execute(
                _SELECT.format(where=where),
                (*params, limit),
            )
        ]
        by_room = {row.room: row for row in rows}
        if by_room:
            marks = ",".join("?" * len(by_room))
            for room, member, expires in conn.execute(
                f"SELECT room, member, expires FROM reservations WHERE room IN ({marks})",  # noqa: S608 -- placeholders only
                list(by_room),
            ):
                by_room[room].reservations[member] = expires
        return rows

    @staticmethod
    def _drop(conn: sqlite3.Connection, room: str) -> None:
        conn.execute("DELETE FROM listings WHERE room = ?", (room,))
        conn.execute("DELETE FROM reservations WHERE room = ?", (room,))

    # -- operations --------------------------------------------------------------------------------
    def put(self, listed: ListedRoom, joined: Sequence[str], now_ms: int) -> Deferred[ListedRoom | None]:
        def write(conn: sqlite3.Connection) -> ListedRoom | None:
            row = conn.execute("SELECT epoch FROM listings WHERE room = ?", (listed.room,)).fetchone()
            if row is not None and row[0] > listed.epoch:
                return None
            conn.execute(
                "INSERT OR REPLACE INTO listings (room, type, epoch, meta, members, max_members) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (listed.room, listed.type, listed.epoch, _dumps(listed.meta), listed.members, listed.max_members),
            )
            conn.execute("DELETE FROM reservations WHERE room = ? AND expires <= ?", (listed.room, now_ms))
            conn.executemany(
                "DELETE FROM reservations WHERE room = ? AND member = ?", [(listed.room, m) for m in joined]
            )
            return self._rows(conn, "room = ?", (listed.room,))[0].listed(now_ms)

        return self._run(self._transaction, write)

    def remove(self, room: str, type_name: str, epoch: int) -> Deferred[bool]:
        def write(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT epoch FROM listings WHERE room = ?", (room,)).fetchone()
            if row is not None and row[0] > epoch:
                return False
            self._drop(conn, room)
            return True

        return self._run(self._transaction, write)

    def page(self, type_name: str, after: str, count: int, now_ms: int) -> Deferred[list[ListedRoom]]:
        def read(conn: sqlite3.Connection) -> list[ListedRoom]:
            rows = self._rows(conn, "type = ? AND room > ?", (type_name, after), count)
            return [row.listed(now_ms) for row in rows]

        return self._run(self._transaction, read)

    def reserve(
        self,
        type_name: str,
        criteria: Mapping[str, Any],
        member: str,
        *,
        seats: int,
        now_ms: int,
        ttl_ms: int,
        new_room: str,
    ) -> Deferred[Seat]:
        def write(conn: sqlite3.Connection) -> Seat:
            rows = self._rows(conn, "type = ?", (type_name,))
            choice = choose(rows, criteria, member, now_ms)
            for room in choice.dropped:
                self._drop(conn, room)
            conn.execute(
                "DELETE FROM reservations WHERE expires <= ? AND room IN (SELECT room FROM listings WHERE type = ?)",
                (now_ms, type_name),
            )
            if choice.room is not None:
                row = next(r for r in rows if r.room == choice.room)
                if not choice.held:
                    row.reservations[member] = now_ms + ttl_ms
                    conn.execute(
                        "INSERT OR REPLACE INTO reservations (room, member, expires) VALUES (?, ?, ?)",
                        (row.room, member, now_ms + ttl_ms),
                    )
                return Seat(row.room, False, row.listed(now_ms))
            row = Row(new_room, type_name, 0, dict(criteria), 0, seats, {member: now_ms + ttl_ms})
            conn.execute(
                "INSERT INTO listings (room, type, epoch, meta, members, max_members) VALUES (?, ?, 0, ?, 0, ?)",
                (new_room, type_name, _dumps(criteria), seats),
            )
            conn.execute(
                "INSERT INTO reservations (room, member, expires) VALUES (?, ?, ?)", (new_room, member, now_ms + ttl_ms)
            )
            return Seat(new_room, True, row.listed(now_ms))

        return self._run(self._transaction, write)

    def release(self, room: str, type_name: str, member: str, now_ms: int) -> Deferred[None]:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM reservations WHERE room = ? AND member = ?", (room, member))
            rows = self._rows(conn, "room = ?", (room,))
            if rows and rows[0].placeholder and not rows[0].live(now_ms):
                self._drop(conn, room)

        return self._run(self._transaction, write)

    def reservations(self, room: str, now_ms: int) -> Deferred[dict[str, int]]:
        def read(conn: sqlite3.Connection) -> dict[str, int]:
            cursor = conn.execute(
                "SELECT member, expires FROM reservations WHERE room = ? AND expires > ?", (room, now_ms)
            )
            return {member: expires for member, expires in cursor}

        return self._run(self._transaction, read)

    def secret(self) -> Deferred[bytes]:
        def read(conn: sqlite3.Connection) -> bytes:
            conn.execute("INSERT OR IGNORE INTO lobby_secret (id, secret) VALUES (1, ?)", (secrets.token_bytes(32),))
            return bytes(conn.execute("SELECT secret FROM lobby_secret WHERE id = 1").fetchone()[0])

        return self._run(self._transaction, read)

    def close(self) -> Deferred[None]:
        if self._conn is None:
            return succeed(None)

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        d = self._run(shut)

        def stop(_: object) -> None:
            if self._trigger is not None:
                self._reactor.removeSystemEventTrigger(self._trigger)
                self._trigger = None
            self._pool.stop()

        return d.addCallback(stop)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
