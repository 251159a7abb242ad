"""Leases and room ownership in a SQLite file, for the workers of one machine (see
:mod:`kasagi.cluster.leases` for the model; ``kasagi up --routers N`` without Redis).

The same compare-and-sets as :class:`~kasagi.cluster.redis_leases.RedisLeases`, each one
``BEGIN IMMEDIATE`` transaction: SQLite's write lock serialises them across the processes
that share the file, as a Lua script serialises them in Redis. Time is the wall clock of the
machine (``clock.seconds()``, read on the reactor thread at each call), the one clock every
process here shares; a lease is alive while its ``expires`` lies ahead of it.

The file is its own (``leases.sqlite3`` beside the rooms' file), not a table of the room
store: every worker renews its lease several times a second, and those writes must not wait
behind, or delay, the rooms' group commits. It is written with ``synchronous=NORMAL``: a lease
is worth nothing after the machine restarts (every lease would have expired), and safety never
rests on it -- the store's epoch fence decides who *can* write.

Tables::

    workers  worker -> expires (seconds since the epoch; 0: expired), load (JSON)
    owners   room -> worker, epoch, state (owned | handover | free), type
    held     room -> worker: the rooms a worker owns (so a reaper finds them)
    reapers  dead worker -> reaper, until (who is taking over a dead worker's rooms)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from kasagi.cluster.leases import Claim, Heartbeat, OwnerRecord, OwnerState, WorkerInfo, decode_load, encode_load

__all__ = ["SqliteLeases"]

T = TypeVar("T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS workers (worker TEXT PRIMARY KEY, expires REAL NOT NULL, load TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS owners (room TEXT PRIMARY KEY, worker TEXT NOT NULL, epoch INTEGER NOT NULL, "
    "state TEXT NOT NULL, type TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS held (room TEXT PRIMARY KEY, worker TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS held_by_worker ON held (worker)",
    "CREATE TABLE IF NOT EXISTS reapers (dead TEXT PRIMARY KEY, reaper TEXT NOT NULL, until REAL NOT NULL)",
)


def _record(row: tuple[Any, ...] | None) -> OwnerRecord | None:
    if row is None:
        return None
    worker, epoch, state, type_name = row
    s = state if state in ("owned", "handover", "free") else "free"
    return OwnerRecord(str(worker), int(epoch), cast(OwnerState, s), str(type_name))


class SqliteLeases:
    """:class:`~kasagi.cluster.leases.Leases` in a SQLite file shared by the workers of one
    machine. Build with :meth:`open`."""

    def __init__(
        self, path: Path, clock: IReactorTime, reactor: Any, *, ttl: float, reap_ttl: float, busy_timeout: float
    ) -> None:
        self.path = path
        self._clock = clock
        self._reactor = reactor
        self.ttl = ttl
        self.reap_ttl = reap_ttl
        self._busy_timeout = busy_timeout
        self._pool = ThreadPool(1, 1, name="kasagi-sqlite-leases")
        self._conn: sqlite3.Connection | None = None
        self._shutdown_trigger: Any = None

    @classmethod
    def open(
        cls,
        path: str | Path,
        reactor: Any,
        *,
        ttl: float = 1.2,
        reap_ttl: float = 5.0,
        busy_timeout: float = 1.0,
    ) -> Deferred[SqliteLeases]:
        """Open (or create) the leases at ``path``; ``reactor`` is also the clock."""
        leases = cls(Path(path), reactor, reactor, ttl=ttl, reap_ttl=reap_ttl, busy_timeout=busy_timeout)
        leases._pool.start()
        leases._shutdown_trigger = reactor.addSystemEventTrigger("during", "shutdown", leases._stop_pool)
        d = leases._run(leases._open)
        return d.addCallback(lambda _: leases)

    def _run(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        return deferToThreadPool(self._reactor, self._pool, fn, *args)

    def _open(self) -> None:
        conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=self._busy_timeout
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with _Write(conn):
                for statement in _SCHEMA:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError("the leases are closed")
        return self._conn

    def close(self) -> Deferred[None]:
        def close_conn() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        def stop(_: object) -> None:
            self._stop_pool()
            if self._shutdown_trigger is not None:
                self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
                self._shutdown_trigger = None

        return self._run(close_conn).addBoth(stop)

    def _stop_pool(self) -> None:
        if self._pool.started:
            self._pool.stop()

    # -- the operations: each one transaction on the leases' thread ----------------------------
    def heartbeat(self, worker: str, load: Mapping[str, Any]) -> Deferred[Heartbeat]:
        return self._run(self._heartbeat, worker, encode_load(load), self._clock.seconds())

    def _heartbeat(self, worker: str, load: str, now: float) -> Heartbeat:
        with _Write(self._db()) as db:
            row = db.execute("SELECT expires FROM workers WHERE worker = ?", (worker,)).fetchone()
            lapsed = row is None or row[0] <= now
            db.execute(
                "INSERT INTO workers (worker, expires, load) VALUES (?, ?, ?) "
                "ON CONFLICT (worker) DO UPDATE SET expires = excluded.expires, load = excluded.load",
                (worker, now + self.ttl, load),
            )
            rows = db.execute("SELECT worker, expires, load FROM workers").fetchall()
        workers = {str(w): WorkerInfo(str(w), e > now, decode_load(raw)) for w, e, raw in rows}
        return Heartbeat(lapsed, workers)

    def claim(self, room: str, worker: str) -> Deferred[Claim]:
        return self._run(self._claim, room, worker, self._clock.seconds())

    def _claim(self, room: str, worker: str, now: float) -> Claim:
        with _Write(self._db()) as db:
            previous = _record(
                db.execute("SELECT worker, epoch, state, type FROM owners WHERE room = ?", (room,)).fetchone()
            )
            if not _alive(db, worker, now):
                return Claim(False, previous, lease_ok=False)
            if (
                previous is not None
                and previous.worker != worker
                and previous.state == "owned"
                and _alive(db, previous.worker, now)
            ):
                return Claim(False, previous)
            epoch = previous.epoch if previous is not None else 0
            type_name = previous.type if previous is not None else ""
            db.execute(
                "INSERT OR REPLACE INTO owners (room, worker, epoch, state, type) VALUES (?, ?, ?, 'owned', ?)",
                (room, worker, epoch, type_name),
            )
            db.execute("INSERT OR REPLACE INTO held (room, worker) VALUES (?, ?)", (room, worker))
        return Claim(True, previous)

    def confirm(self, room: str, worker: str, epoch: int, type_name: str) -> Deferred[bool]:
        return self._run(self._confirm, room, worker, epoch, type_name)

    def _confirm(self, room: str, worker: str, epoch: int, type_name: str) -> bool:
        with _Write(self._db()) as db:
            cursor = db.execute(
                "UPDATE owners SET epoch = ?, type = ? WHERE room = ? AND worker = ? AND state = 'owned'",
                (epoch, type_name, room, worker),
            )
            return cursor.rowcount == 1

    def release(self, room: str, worker: str, epoch: int, handover: bool) -> Deferred[bool]:
        return self._run(self._release, room, worker, epoch, "handover" if handover else "free")

    def _release(self, room: str, worker: str, epoch: int, state: str) -> bool:
        with _Write(self._db()) as db:
            cursor = db.execute(
                "UPDATE owners SET epoch = ?, state = ? WHERE room = ? AND worker = ?", (epoch, state, room, worker)
            )
            if cursor.rowcount != 1:
                return False
            db.execute("DELETE FROM held WHERE room = ? AND worker = ?", (room, worker))
            return True

    def owners(self, rooms: Iterable[str]) -> Deferred[dict[str, OwnerRecord | None]]:
        return self._run(self._owners, list(rooms))

    def _owners(self, rooms: list[str]) -> dict[str, OwnerRecord | None]:
        db = self._db()
        query = "SELECT worker, epoch, state, type FROM owners WHERE room = ?"
        return {room: _record(db.execute(query, (room,)).fetchone()) for room in rooms}

    def reap(self, dead: str, worker: str) -> Deferred[list[str] | None]:
        return self._run(self._reap, dead, worker, self._clock.seconds())

    def _reap(self, dead: str, worker: str, now: float) -> list[str] | None:
        with _Write(self._db()) as db:
            if _alive(db, dead, now):
                return None
            row = db.execute("SELECT until FROM reapers WHERE dead = ?", (dead,)).fetchone()
            if row is not None and row[0] > now:
                return None
            db.execute(
                "INSERT OR REPLACE INTO reapers (dead, reaper, until) VALUES (?, ?, ?)",
                (dead, worker, now + self.reap_ttl),
            )
            rows = db.execute("SELECT room FROM held WHERE worker = ? ORDER BY room", (dead,)).fetchall()
        return [str(r[0]) for r in rows]

    def forget(self, dead: str) -> Deferred[bool]:
        return self._run(self._forget, dead, self._clock.seconds())

    def _forget(self, dead: str, now: float) -> bool:
        with _Write(self._db()) as db:
            if _alive(db, dead, now):
                return False
            _drop(db, dead)
            return True

    def expire(self, worker: str) -> Deferred[None]:
        """End ``worker``'s lease now (an operator evicting a worker; tests)."""
        return self._run(self._expire, worker)

    def _expire(self, worker: str) -> None:
        with _Write(self._db()) as db:
            db.execute("UPDATE workers SET expires = 0 WHERE worker = ?", (worker,))

    def leave(self, worker: str) -> Deferred[None]:
        return self._run(self._leave, worker)

    def _leave(self, worker: str) -> None:
        with _Write(self._db()) as db:
            _drop(db, worker)


def _alive(db: sqlite3.Connection, worker: str, now: float) -> bool:
    row = db.execute("SELECT expires FROM workers WHERE worker = ?", (worker,)).fetchone()
    return row is not None and bool(row[0] > now)


def _drop(db: sqlite3.Connection, worker: str) -> None:
    db.execute("DELETE FROM workers WHERE worker = ?", (worker,))
    db.execute("DELETE FROM held WHERE worker = ?", (worker,))
    db.execute("DELETE FROM reapers WHERE dead = ?", (worker,))


class _Write:
    """``BEGIN IMMEDIATE`` .. ``COMMIT`` (``ROLLBACK`` on any error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
