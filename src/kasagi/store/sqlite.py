"""The embedded store (the default of ``kasagi up``): SQLite in WAL mode, one file in the
node's data directory, zero set-up.

- **Off the reactor thread.** Writes run on one writer thread with its own connection, reads
  (``load``, ``events_since``) on one reader thread with another: WAL lets a reader work
  while a write commits, so reloading a big room never delays other rooms' commits. JSON is
  decoded on those threads (an event is encoded once, when its append is queued).
- **Group commit across rooms.** Appends made in one pass of the reactor (rooms committing
  on the same point of the commit grid, ``kasagi.core.commit_schedule``) and those that
  arrive while a write transaction runs are queued and written together in the next
  transaction, which starts once the pass is over: one fsync for all of them, and a fixed
  handful of statements (one read of the rooms' heads, one insert of all events, one update
  of the heads, one insert of all results), however many appends it carries. An append whose
  fence fails (stale epoch, seq conflict) fails alone; one that SQLite refuses (a damaged
  room) sends the transaction back, to be written again append by append, each in its own
  savepoint, so that it fails alone.
- **Result windows trimmed lazily.** A room's exactly-once windows are cut back to
  ``results_per_member`` per producer once one of its producers has appended that many
  results since the last cut (a few rooms per transaction, and before ``set_epoch``), so the
  file holds at most two windows of each producer and a room of many members is cut once per
  window of theirs, not once per window of all of theirs together; ``load`` applies the
  window to what it reads, so a room reloads exactly as if every append had trimmed.
- **Durable per commit.** ``journal_mode=WAL`` with ``synchronous=FULL``: each transaction
  fsyncs the WAL before its appends are answered, so an acknowledged action survives the
  crash of the process *and* of the machine (power loss), on a disk that honours fsync.
  (``NORMAL`` would survive process crashes only.)
- **A file that is not ours is left alone.** The file carries SQLite's ``application_id``
  (``KSGI``) and a schema version in ``user_version``; a file of another application, of a
  newer schema or not a database at all is refused with :class:`CorruptStore` and not
  modified. A file of an older schema is brought up to date when the store opens it
  (schema 2 keeps each event's size, for the history's byte budget).
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from kasagi.core import Batch
from kasagi.core.results import instance_floor_key, producer_key
from kasagi.store.codec import decode_event, decode_int, decode_map, dumps
from kasagi.store.interface import (
    CorruptRoom,
    CorruptStore,
    Event,
    NowMs,
    RoomExists,
    SeqConflict,
    StaleEpoch,
    StoredRoom,
    StoreError,
    StoreLimits,
    wall_ms,
)

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SqliteRoomStore", "check_file"]

T = TypeVar("T")

#: ``PRAGMA application_id`` of a Kasagi room store: "KSGI".
APPLICATION_ID = 0x4B534749
SCHEMA_VERSION = 2

_SCHEMA_1 = (
    """CREATE TABLE rooms (
        room TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        options TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        snapshot_seq INTEGER NOT NULL,
        snapshot TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE events (
        room TEXT NOT NULL,
        seq INTEGER NOT NULL,
        t_ms INTEGER NOT NULL,
        event TEXT NOT NULL,
        PRIMARY KEY (room, seq)
    ) WITHOUT ROWID""",
    # Each producer's results (member = the producer key, kasagi.core.results); a row with
    # seq 0 is not a result but the producer's floor (the highest cseq dropped from its
    # window), or under "<member>/" the member's instance floor.
    "CREATE TABLE results (room TEXT NOT NULL, member TEXT NOT NULL, cseq INTEGER NOT NULL, seq INTEGER NOT NULL)",
    "CREATE INDEX results_by_member ON results (room, member)",
)
#: Schema 2 (also how a schema 1 file is upgraded): each event's size in bytes of its JSON
#: text, and an index that answers the byte budget without reading the events themselves.
_SCHEMA_2 = (
    "ALTER TABLE events ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX events_by_size ON events (room, seq, bytes)",
)
_SCHEMA = (*_SCHEMA_1, *_SCHEMA_2)
_TABLES = frozenset({"rooms", "events", "results"})
#: Rows (or rooms) per statement when appends are written together (at most 5 parameters a
#: row; SQLite takes 32,766 per statement).
_ROWS_PER_STATEMENT = 500
#: A transaction trims at most this many rooms that are due (a producer with a window's
#: worth of untrimmed results; those with the most first), so that cutting windows is spread
#: over the transactions ...
_TRIMS_PER_TRANSACTION = 8
#: ... except a room with a producer this many windows past: it is always cut.
_TRIM_ALWAYS = 4
#: Rooms whose untrimmed results the writer counts; past that, each transaction also trims
#: and forgets up to ``_TRIMS_PER_TRANSACTION`` of those with the fewest (memory stays bounded).
_MAX_UNTRIMMED_ROOMS = 4096
#: Producers counted per room; a room with more is due (its cut forgets them all) ...
_MAX_COUNTED_PRODUCERS = 256
#: ... and in all rooms together; past that, each transaction also trims and forgets up to
#: ``_TRIMS_PER_TRANSACTION`` of the rooms counting the most.
_MAX_COUNTED_PAIRS = 16_384
# The statements of appends written together; ``_sql`` puts one placeholder per room where
# ``{marks}`` stands (one pair per room where ``{pairs}`` does). Each returns no row or one.
_HEADS = "SELECT json_group_array(json_array(room, epoch, seq)) FROM rooms WHERE room IN ({marks})"
_MOVE_HEADS = "UPDATE rooms SET seq = heads.column2 FROM (VALUES {pairs}) AS heads WHERE rooms.room = heads.column1"
#: Each result of the rooms with its rank in its producer's window (1: the highest cseq).
_RANKED = (
    "SELECT rowid AS id, room, member, cseq, "
    "row_number() OVER (PARTITION BY room, member ORDER BY cseq DESC) AS rank "
    "FROM results WHERE room IN ({marks}) AND seq > 0"
)
#: A floor for each producer with results beyond its window: the highest cseq beyond it ...
_RAISE_FLOORS = (
    "INSERT INTO results (room, member, cseq, seq) "
    "SELECT room, member, max(cseq), 0 FROM ({ranked}) WHERE rank > ? GROUP BY room, member"
).replace("{ranked}", _RANKED)
#: ... of which each key keeps the highest ...
_ONE_FLOOR_PER_KEY = (
    "DELETE FROM results WHERE rowid IN (SELECT id FROM ("
    "SELECT rowid AS id, row_number() OVER (PARTITION BY room, member ORDER BY cseq DESC, rowid) AS rank "
    "FROM results WHERE room IN ({marks}) AND seq = 0) WHERE rank > 1)"
)
#: ... and the results beyond the windows go.
_CUT_WINDOWS = "DELETE FROM results WHERE rowid IN (SELECT id FROM ({ranked}) WHERE rank > ?)".replace(
    "{ranked}", _RANKED
)


class SqliteRoomStore:
    """Rooms in one SQLite file. Build with :meth:`open`."""

    log = Logger()

    def __init__(self, path: Path, reactor: Any, *, limits: StoreLimits, now_ms: NowMs, busy_timeout: float) -> None:
        self.path = path
        self.limits = limits
        self._reactor = reactor
        #: The call that starts the next write once the appends of this reactor pass are queued.
        self._gathering: Any = None
        self._now_ms = now_ms
        self._busy_timeout = busy_timeout
        self._writer_pool = ThreadPool(1, 1, name="kasagi-sqlite-writer")
        self._reader_pool = ThreadPool(1, 1, name="kasagi-sqlite-reader")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._queue: list[tuple[Batch, str, int, Deferred[None]]] = []
        self._writing = False
        #: Room -> producer -> results appended since the room's windows were last trimmed
        #: (writer thread only).
        self._untrimmed: dict[str, dict[str, int]] = {}
        self._counted = 0  # (room, producer) pairs in it
        self._shutdown_trigger: Any = None
        self.closed = False
        #: Write transactions, the appends they carried (group commit at work) and the rooms
        #: whose result windows they cut.
        self.stats = {"transactions": 0, "appends": 0, "trims": 0}

    @classmethod
    def open(
        cls,
        path: str | Path,
        reactor: Any,
        *,
        limits: StoreLimits | None = None,
        now_ms: NowMs = wall_ms,
        busy_timeout: float = 2.0,
    ) -> Deferred[SqliteRoomStore]:
        """Open (or create) the store at ``path``; fails with :class:`CorruptStore` if the
        file is not a Kasagi room store, leaving it untouched."""
        store = cls(Path(path), reactor, limits=limits or StoreLimits(), now_ms=now_ms, busy_timeout=busy_timeout)
        store._writer_pool.start()
        store._reader_pool.start()
        store._shutdown_trigger = reactor.addSystemEventTrigger("during", "shutdown", store._stop_pools)
        d = store._on_writer(store._open_writer)
        d.addCallback(lambda _: store._on_reader(store._open_reader))

        def ready(_: object) -> SqliteRoomStore:
            store.log.info("room store: {path} (SQLite WAL, synchronous=FULL)", path=str(store.path))
            return store

        def failed(failure: Failure) -> Deferred[Any]:
            return store.close().addBoth(lambda _: failure)

        return d.addCallbacks(ready, failed)

    # -- threads -------------------------------------------------------------------------------
    def _on_writer(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        return deferToThreadPool(self._reactor, self._writer_pool, fn, *args)

    def _on_reader(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        return deferToThreadPool(self._reactor, self._reader_pool, fn, *args)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=self._busy_timeout
        )

    def _open_writer(self) -> None:
        if self.path.is_dir():
            raise CorruptStore(f"{self.path} is a directory, not a Kasagi room store")
        if not self.path.parent.is_dir():
            raise CorruptStore(f"the data directory {self.path.parent} does not exist")
        conn = self._connect()
        try:
            self._check_or_init(conn)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise CorruptStore(f"{self.path}: SQLite refused WAL mode (journal_mode={mode})")
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptStore(f"{self.path} is not a usable Kasagi room store: {exc}") from None
        except BaseException:
            conn.close()
            raise
        self._writer = conn

    def _check_or_init(self, conn: sqlite3.Connection) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id == 0 and not tables:
            conn.execute("BEGIN IMMEDIATE")
            try:
                tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not tables:  # nobody initialised it meanwhile
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        problem = _judge(self.path, app_id, conn)
        if problem is not None:
            raise CorruptStore(problem)
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            self._upgrade(conn)

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        """Schema 1 -> 2: measure the events already stored."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 1:  # nobody upgraded it meanwhile
                for statement in _SCHEMA_2:
                    conn.execute(statement)
                conn.execute("UPDATE events SET bytes = length(CAST(event AS BLOB))")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.log.info("room store: {path} upgraded to schema {version}", path=str(self.path), version=SCHEMA_VERSION)

    def _open_reader(self) -> None:
        conn = self._connect()
        conn.execute("PRAGMA query_only = 1")
        self._reader = conn

    # -- reads ---------------------------------------------------------------------------------
    def load(self, room: str) -> Deferred[StoredRoom | None]:
        return self._on_reader(self._load, room)

    def _load(self, room: str) -> StoredRoom | None:
        conn = self._reader
        assert conn is not None
        conn.execute("BEGIN")
        try:
            row = conn.execute(
                "SELECT type, options, epoch, seq, snapshot_seq, snapshot FROM rooms WHERE room = ?", (room,)
            ).fetchone()
            if row is None:
                if conn.execute("SELECT 1 FROM events WHERE room = ? LIMIT 1", (room,)).fetchone() is not None:
                    raise CorruptRoom(room, "events are stored but the room's head row is missing")
                return None
            type_name, options_raw, epoch_raw, seq_raw, snap_seq_raw, snapshot_raw = row
            epoch = decode_int(epoch_raw, room, "the stored epoch")
            snapshot_seq = decode_int(snap_seq_raw, room, "the snapshot seq")
            rows = conn.execute(
                "SELECT seq, event FROM events WHERE room = ? AND seq > ? ORDER BY seq", (room, snapshot_seq)
            ).fetchall()
            result_rows = conn.execute(
                "SELECT member, cseq, seq FROM results WHERE room = ? ORDER BY rowid", (room,)
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        if not isinstance(type_name, str):
            raise CorruptRoom(room, "the room type is not text")
        tail = []
        for seq_raw_i, raw in rows:
            seq_i = decode_int(seq_raw_i, room, "an event's seq")
            if not isinstance(raw, str):
                raise CorruptRoom(room, f"event {seq_i} is not JSON text")
            tail.append(decode_event(raw, room, epoch, seq_i))
        results: dict[str, dict[int, int]] = {}
        floors: dict[str, int] = {}
        for member, cseq, rseq in result_rows:
            if not isinstance(member, str):
                raise CorruptRoom(room, "a stored result has a member id that is not text")
            cseq_int = decode_int(cseq, room, "a result's cseq")
            seq_int = decode_int(rseq, room, "a result's seq")
            if seq_int == 0:
                floors[member] = max(floors.get(member, 0), cseq_int)
            else:
                results.setdefault(member, {})[cseq_int] = seq_int
        _apply_windows(results, floors, self.limits.results_per_member)
        return StoredRoom(
            room=room,
            type=type_name,
            options=decode_map(_text(options_raw, room, "options"), room, "the room options"),
            epoch=epoch,
            seq=decode_int(seq_raw, room, "the stored seq"),
            snapshot_seq=snapshot_seq,
            snapshot=decode_map(_text(snapshot_raw, room, "snapshot"), room, "the snapshot"),
            tail=tail,
            results=results,
            floors=floors,
        )

    def events_since(self, room: str, epoch: int, seq: int) -> Deferred[list[Event] | None]:
        return self._on_reader(self._events_since, room, epoch, seq)

    def _events_since(self, room: str, epoch: int, since: int) -> list[Event] | None:
        conn = self._reader
        assert conn is not None
        conn.execute("BEGIN")
        try:
            row = conn.execute("SELECT epoch, seq FROM rooms WHERE room = ?", (room,)).fetchone()
            if row is None or row[0] != epoch or since < 0:
                return None
            head = decode_int(row[1], room, "the stored seq")
            if since > head:
                return None
            if since == head:
                return []
            rows = conn.execute(
                "SELECT seq, event FROM events WHERE room = ? AND seq > ? AND seq <= ? ORDER BY seq",
                (room, since, head),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        if len(rows) != head - since or rows[0][0] != since + 1:
            return None
        return [decode_event(_text(raw, room, f"event {s}"), room, epoch, s) for s, raw in rows]

    # -- writes --------------------------------------------------------------------------------
    def create(
        self, room: str, type_name: str, options: dict[str, Any], epoch: int, state: dict[str, Any]
    ) -> Deferred[None]:
        return self._on_writer(self._create, room, type_name, dumps(options), epoch, dumps(state))

    def _create(self, room: str, type_name: str, options: str, epoch: int, snapshot: str) -> None:
        with _Transaction(self._conn()) as conn:
            for table in ("rooms", "events", "results"):
                if conn.execute(f"SELECT 1 FROM {table} WHERE room = ? LIMIT 1", (room,)).fetchone() is not None:  # noqa: S608 -- fixed table names
                    raise RoomExists(room)
            conn.execute(
                "INSERT INTO rooms (room, type, options, epoch, seq, snapshot_seq, snapshot) "
                "VALUES (?, ?, ?, ?, 0, 0, ?)",
                (room, type_name, options, epoch, snapshot),
            )

    def append(self, batch: Batch) -> Deferred[None]:
        """Queue the batch for the next write transaction (group commit)."""
        d: Deferred[None] = Deferred()
        if self.closed:
            d.errback(StoreError("the store is closed"))
            return d
        self._queue.append((batch, dumps(batch.event), self._now_ms(), d))
        if not self._writing and self._gathering is None:
            # Start writing once this pass of the reactor is over: the appends of rooms that
            # commit in the same pass (on the commit grid) go in one transaction.
            self._gathering = self._reactor.callLater(0, self._gathered)
        return d

    def _gathered(self) -> None:
        self._gathering = None
        self._write_queued()

    def _write_queued(self) -> None:
        if self._writing or not self._queue:
            return
        jobs, self._queue = self._queue, []
        if self.closed:
            for _, _, _, d in jobs:
                d.errback(Failure(StoreError("the store is closed")))
            return
        self._writing = True
        work = [(batch, event, t) for batch, event, t, _ in jobs]

        # The next transaction starts before this one's callers hear of it: what they do then
        # (publish, answer, schedule their next commit) runs while the writer writes.
        def done(outcomes: list[Exception | None]) -> None:
            self._writing = False
            self._write_queued()
            for (_, _, _, d), outcome in zip(jobs, outcomes, strict=True):
                d.errback(Failure(outcome)) if outcome is not None else d.callback(None)

        def failed(failure: Failure) -> None:
            self._writing = False
            self._write_queued()
            for _, _, _, d in jobs:
                d.errback(failure)

        self._on_writer(self._append_all, work).addCallbacks(done, failed).addErrback(
            lambda f: self.log.failure("room store: group commit bookkeeping failed", f)
        )

    def _append_all(self, work: list[tuple[Batch, str, int]]) -> list[Exception | None]:
        conn = self._conn()
        outcomes: list[Exception | None] | None = None
        if not any(batch.dropped for batch, _, _ in work):
            try:
                with _Transaction(conn):
                    outcomes, added, trimmed = self._append_together(conn, work)
            except (sqlite3.Error, ValueError):  # ValueError: text SQLite cannot take
                outcomes = None  # written one by one below, so that the append at fault fails alone
            else:  # committed: the counts follow
                for room, by_producer in added.items():
                    counts = self._untrimmed.setdefault(room, {})
                    self._counted += len(by_producer.keys() - counts.keys())
                    for producer, n in by_producer.items():
                        counts[producer] = counts.get(producer, 0) + n
                for room in trimmed:
                    self._forget(room)
                self.stats["trims"] += len(trimmed)
        if outcomes is None:
            with _Transaction(conn):
                outcomes = [self._append_alone(conn, batch, event, t_ms) for batch, event, t_ms in work]
        self.stats["transactions"] += 1
        self.stats["appends"] += len(work)
        return outcomes

    # Appends written together: a fixed number of statements per transaction, however many
    # appends it carries. Each statement is one call into SQLite, and a call is where the
    # writer thread gives the interpreter up and waits to get it back (up to the switch interval
    # when the reactor thread is busy): a statement per row would make a busy node's commits
    # wait on the reactor, row by row.
    def _append_together(
        self, conn: sqlite3.Connection, work: list[tuple[Batch, str, int]]
    ) -> tuple[list[Exception | None], dict[str, dict[str, int]], list[str]]:
        """Check every batch against its room's head, then write the events, heads and results
        of those that pass in one statement each; trim the result windows that are due.
        Returns each batch's outcome, the results added per room and producer, and the rooms
        trimmed."""
        heads: dict[str, tuple[int, int]] = {}
        for rooms in _chunks(sorted({batch.room for batch, _, _ in work}), _ROWS_PER_STATEMENT):
            row = conn.execute(_sql(_HEADS, len(rooms)), rooms).fetchone()
            for room, epoch, seq in json.loads(row[0]):
                heads[room] = (epoch, seq)
        outcomes: list[Exception | None] = []
        events: list[tuple[Any, ...]] = []
        results: list[tuple[Any, ...]] = []
        moved: dict[str, int] = {}
        added: dict[str, dict[str, int]] = {}
        for batch, event, t_ms in work:
            head = heads.get(batch.room)
            if head is None:
                outcomes.append(StoreError(f"room {batch.room} is not stored"))
            elif head[0] != batch.epoch:
                outcomes.append(StaleEpoch(f"room {batch.room}: stored epoch {head[0]}, writer {batch.epoch}"))
            elif head[1] != batch.seq - 1:
                outcomes.append(SeqConflict(f"room {batch.room}: stored seq {head[1]}, batch {batch.seq}"))
            else:
                heads[batch.room] = (head[0], batch.seq)
                moved[batch.room] = batch.seq
                if batch.acks:
                    by_producer = added.setdefault(batch.room, {})
                    for producer, _ in batch.acks:
                        by_producer[producer] = by_producer.get(producer, 0) + 1
                events.append((batch.room, batch.seq, t_ms, event, len(event.encode("utf-8"))))
                results.extend((batch.room, producer, cseq, batch.seq) for producer, cseq in batch.acks)
                outcomes.append(None)
        _insert(conn, "events (room, seq, t_ms, event, bytes)", events)
        for chunk in _chunks(list(moved.items()), _ROWS_PER_STATEMENT):
            conn.execute(_sql(_MOVE_HEADS, len(chunk)), [value for pair in chunk for value in pair])
        _insert(conn, "results (room, member, cseq, seq)", results)
        trimmed = sorted(self._due(added))
        self._trim(conn, trimmed)
        return outcomes, added, trimmed

    def _due(self, added: dict[str, dict[str, int]]) -> set[str]:
        """The rooms to trim in this transaction, counting the results it adds: those with a
        producer a window past (at most a few, the furthest first, but always those far past),
        while too many rooms are counted some of those with the fewest results, and while too
        many producers are, some of the rooms counting the most."""
        keep, untrimmed = self.limits.results_per_member, self._untrimmed
        most: dict[str, int] = {}  # room -> its producer's most untrimmed results
        counted = self._counted
        for room, by_producer in added.items():
            counts = untrimmed.get(room, {})
            producers = counts.keys() | by_producer.keys()
            counted += len(producers) - len(counts)
            if len(producers) > _MAX_COUNTED_PRODUCERS:
                most[room] = _TRIM_ALWAYS * keep
            else:
                most[room] = max(counts.get(p, 0) + by_producer.get(p, 0) for p in producers)
        due = sorted((room for room, n in most.items() if n >= keep), key=lambda room: -most[room])
        trim = {*due[:_TRIMS_PER_TRANSACTION], *(room for room in due if most[room] >= _TRIM_ALWAYS * keep)}
        if len(untrimmed.keys() | added.keys()) > _MAX_UNTRIMMED_ROOMS:
            total = {room: sum(counts.values()) for room, counts in untrimmed.items()}
            for room, by_producer in added.items():
                total[room] = total.get(room, 0) + sum(by_producer.values())
            trim.update(heapq.nsmallest(_TRIMS_PER_TRANSACTION, total, key=total.__getitem__))
        if counted > _MAX_COUNTED_PAIRS:
            width = {room: len(counts) for room, counts in untrimmed.items()}
            for room, by_producer in added.items():
                width[room] = len(untrimmed.get(room, {}).keys() | by_producer.keys())
            trim.update(heapq.nlargest(_TRIMS_PER_TRANSACTION, width, key=width.__getitem__))
        return trim

    def _forget(self, room: str) -> None:
        """The room's windows were cut: nothing of it is untrimmed."""
        self._counted -= len(self._untrimmed.pop(room, {}))

    def _trim(self, conn: sqlite3.Connection, rooms: list[str]) -> None:
        """Cut each producer of ``rooms`` to its window of the highest cseqs: the floor rises
        to the highest cseq cut, then the rows beyond the window go (``kasagi.core.results``)."""
        keep = self.limits.results_per_member
        for chunk in _chunks(rooms, _ROWS_PER_STATEMENT):
            conn.execute(_sql(_RAISE_FLOORS, len(chunk)), (*chunk, keep))
            conn.execute(_sql(_ONE_FLOOR_PER_KEY, len(chunk)), chunk)
            conn.execute(_sql(_CUT_WINDOWS, len(chunk)), (*chunk, keep))

    def _append_alone(self, conn: sqlite3.Connection, batch: Batch, event: str, t_ms: int) -> Exception | None:
        """Write one append in its own savepoint: it fails alone."""
        conn.execute("SAVEPOINT one")
        try:
            self._append_one(conn, batch, event, t_ms)
        except (StoreError, sqlite3.Error, ValueError) as exc:  # ValueError: text SQLite cannot take
            conn.execute("ROLLBACK TO one")
            conn.execute("RELEASE one")
            return exc if isinstance(exc, StoreError) else CorruptRoom(batch.room, f"append refused: {exc}")
        conn.execute("RELEASE one")
        return None

    def _append_one(self, conn: sqlite3.Connection, batch: Batch, event: str, t_ms: int) -> None:
        row = conn.execute("SELECT epoch, seq FROM rooms WHERE room = ?", (batch.room,)).fetchone()
        if row is None:
            raise StoreError(f"room {batch.room} is not stored")
        if row[0] != batch.epoch:
            raise StaleEpoch(f"room {batch.room}: stored epoch {row[0]}, writer {batch.epoch}")
        if row[1] != batch.seq - 1:
            raise SeqConflict(f"room {batch.room}: stored seq {row[1]}, batch {batch.seq}")
        conn.execute(
            "INSERT INTO events (room, seq, t_ms, event, bytes) VALUES (?, ?, ?, ?, ?)",
            (batch.room, batch.seq, t_ms, event, len(event.encode("utf-8"))),
        )
        conn.execute("UPDATE rooms SET seq = ? WHERE room = ?", (batch.seq, batch.room))
        for member, instance in batch.dropped:
            conn.execute(
                "DELETE FROM results WHERE room = ? AND member = ?", (batch.room, producer_key(member, instance))
            )
            _raise_floor(conn, batch.room, instance_floor_key(member), instance)
        if batch.acks:
            conn.executemany(
                "INSERT INTO results (room, member, cseq, seq) VALUES (?, ?, ?, ?)",
                [(batch.room, producer, cseq, batch.seq) for producer, cseq in batch.acks],
            )
            keep = self.limits.results_per_member
            for producer in {p for p, _ in batch.acks}:
                # The lowest cseqs beyond the window go; the floor rises to the highest of them.
                row = conn.execute(
                    "SELECT max(cseq) FROM (SELECT cseq FROM results WHERE room = ? AND member = ? AND seq > 0 "
                    "ORDER BY cseq DESC LIMIT -1 OFFSET ?)",
                    (batch.room, producer, keep),
                ).fetchone()
                if row[0] is not None:
                    conn.execute(
                        "DELETE FROM results WHERE room = ? AND member = ? AND seq > 0 AND cseq <= ?",
                        (batch.room, producer, row[0]),
                    )
                    _raise_floor(conn, batch.room, producer, row[0])

    def save_snapshot(self, room: str, epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        return self._on_writer(self._save_snapshot, room, epoch, seq, state, self._now_ms())

    def _save_snapshot(self, room: str, epoch: int, seq: int, state: dict[str, Any], now: int) -> None:
        snapshot = dumps(state)
        limits = self.limits
        with _Transaction(self._conn()) as conn:
            row = conn.execute("SELECT epoch, seq, snapshot_seq FROM rooms WHERE room = ?", (room,)).fetchone()
            if row is None or row[0] != epoch:
                raise StaleEpoch(f"room {room}: not in epoch {epoch}")
            head, snap_seq = row[1], row[2]
            if seq > head:
                raise SeqConflict(f"room {room}: snapshot at {seq} beyond the head {head}")
            if seq > snap_seq:
                conn.execute("UPDATE rooms SET snapshot_seq = ?, snapshot = ? WHERE room = ?", (seq, snapshot, room))
                snap_seq = seq
            bound = min(snap_seq, head - limits.history_events)
            kept = conn.execute(
                "SELECT seq FROM events WHERE room = ? AND (seq > ? OR (t_ms >= ? AND seq > ?)) ORDER BY seq LIMIT 1",
                (room, bound, now - int(limits.history_seconds * 1000), head - limits.hard_cap),
            ).fetchone()
            first_kept = kept[0] if kept is not None else bound + 1
            if limits.history_bytes:
                # The oldest event whose suffix (it and everything after it) fits the budget.
                within_budget = conn.execute(
                    "SELECT seq FROM (SELECT seq, SUM(bytes) OVER (ORDER BY seq DESC) AS kept "
                    "FROM events INDEXED BY events_by_size WHERE room = ?) WHERE kept <= ? ORDER BY seq LIMIT 1",
                    (room, limits.history_bytes),
                ).fetchone()
                by_bytes = within_budget[0] if within_budget is not None else head + 1
                first_kept = max(first_kept, min(snap_seq + 1, by_bytes))
            conn.execute("DELETE FROM events WHERE room = ? AND seq < ?", (room, first_kept))

    def set_epoch(self, room: str, old_epoch: int, new_epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        return self._on_writer(self._set_epoch, room, old_epoch, new_epoch, seq, state)

    def _set_epoch(self, room: str, old_epoch: int, new_epoch: int, seq: int, state: dict[str, Any]) -> None:
        snapshot = dumps(state)
        with _Transaction(self._conn()) as conn:
            row = conn.execute("SELECT epoch FROM rooms WHERE room = ?", (room,)).fetchone()
            if row is None or row[0] != old_epoch:
                raise StaleEpoch(f"room {room}: not in epoch {old_epoch}")
            conn.execute(
                "UPDATE rooms SET epoch = ?, seq = ?, snapshot_seq = ?, snapshot = ? WHERE room = ?",
                (new_epoch, seq, seq, snapshot, room),
            )
            conn.execute("DELETE FROM events WHERE room = ?", (room,))
            self._trim(conn, [room])  # the floors of the results cut first, then those past seq go
            conn.execute("DELETE FROM results WHERE room = ? AND seq > ?", (room, seq))
        self._forget(room)

    def _conn(self) -> sqlite3.Connection:
        if self._writer is None:
            raise StoreError("the store is closed")
        return self._writer

    # -- life ------------------------------------------------------------------------------------
    def close(self) -> Deferred[None]:
        """Finish queued writes, close both connections and stop the threads."""
        if self._gathering is not None:  # appends of this pass: written before the close
            self._gathering.cancel()
            self._gathering = None
            self._write_queued()
        self.closed = True

        def close_writer() -> None:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

        def close_reader() -> None:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

        d = self._on_writer(close_writer)
        d.addBoth(lambda _: self._on_reader(close_reader))

        def stop(_: object) -> None:
            self._stop_pools()
            if self._shutdown_trigger is not None:
                self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
                self._shutdown_trigger = None

        return d.addBoth(stop)

    def _stop_pools(self) -> None:
        for pool in (self._writer_pool, self._reader_pool):
            if pool.started:
                pool.stop()


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _judge(path: Path, app_id: int, conn: sqlite3.Connection) -> str | None:
    """Why the database open on ``conn`` is not a Kasagi room store this version can use."""
    tables = _tables(conn)
    if app_id != APPLICATION_ID:
        return (
            f"{path} belongs to another application (application_id {app_id:#x}, tables "
            f"{', '.join(sorted(tables)) or 'none'}); Kasagi will not use or change it"
        )
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        return f"{path} was written by a newer Kasagi (schema {version}); this version reads schema {SCHEMA_VERSION}"
    if version < 1:
        return f"{path} has no Kasagi schema version (user_version {version})"
    missing = _TABLES - tables
    if missing:
        return f"{path} is damaged: table(s) {', '.join(sorted(missing))} missing"
    return None


def check_file(path: Path) -> str | None:
    """Why the file at ``path`` can't be used as a Kasagi room store, or None (it is one, or
    it is absent or empty: it will be created). Reads only: safe before starting a node."""
    if path.is_dir():
        return f"{path} is a directory, not a Kasagi room store"
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id == 0 and not _tables(conn):
                return None
            return _judge(path, app_id, conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"{path} is not a usable Kasagi room store: {exc}"


def _raise_floor(conn: sqlite3.Connection, room: str, key: str, floor: int) -> None:
    """Raise the floor kept under ``key`` (a results row with seq 0) to ``floor``."""
    query = "SELECT max(cseq) FROM results WHERE room = ? AND member = ? AND seq = 0"
    row = conn.execute(query, (room, key)).fetchone()
    if row[0] is not None and row[0] >= floor:
        return
    conn.execute("DELETE FROM results WHERE room = ? AND member = ? AND seq = 0", (room, key))
    conn.execute("INSERT INTO results (room, member, cseq, seq) VALUES (?, ?, ?, 0)", (room, key, floor))


class _Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT`` (``ROLLBACK`` on any error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is None:
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _text(raw: Any, room: str, what: str) -> str:
    if not isinstance(raw, str):
        raise CorruptRoom(room, f"the {what} is not JSON text")
    return raw


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _sql(template: str, n: int) -> str:
    """``template`` with ``n`` placeholders where ``{marks}`` stands (``{pairs}``: ``n`` pairs)."""
    return template.replace("{marks}", ", ".join(["?"] * n)).replace("{pairs}", ", ".join(["(?, ?)"] * n))


def _insert(conn: sqlite3.Connection, into: str, rows: list[tuple[Any, ...]]) -> None:
    """``INSERT INTO <into> VALUES (...), (...), ...``: one statement per chunk of rows of
    equal width."""
    for chunk in _chunks(rows, _ROWS_PER_STATEMENT):
        row = "(" + ", ".join(["?"] * len(chunk[0])) + ")"
        query = "INSERT INTO " + into + " VALUES " + ", ".join([row] * len(chunk))  # noqa: S608 -- fixed columns, placeholders
        conn.execute(query, [v for r in chunk for v in r])


def _apply_windows(results: dict[str, dict[int, int]], floors: dict[str, int], keep: int) -> None:
    """Cut each producer's results read from the file to its window (the rows a lazy trim has
    not cut yet): the lowest cseqs go and the floor rises to the highest of them."""
    for key, window in results.items():
        if len(window) > keep:
            cut = sorted(window)[: len(window) - keep]
            for cseq in cut:
                del window[cseq]
            floors[key] = max(floors.get(key, 0), cut[-1])
