"""The Redis store, through txredisapi: for deployments where rooms must outlive the node
(several nodes, or a Redis already run with AOF persistence).

One Lua script per operation (:mod:`kasagi.store.redis_scripts`), so every batch -- event,
head seq and cseq results -- is all or nothing, fenced by epoch and seq inside Redis.

Traps of txredisapi, and what this module does about them:

- **It queues commands while Redis is down** and runs them after reconnecting; nothing times
  out the wait. A command is therefore never handed to it while the pool has no live
  connection (it fails at once with :class:`StoreUnavailable`), callers put their own
  deadline around every call (:func:`kasagi.deadline.within`), and a write that still
  arrives late can't apply twice: the seq fence in the script refuses it.
- **convertNumbers** (on by default) turns ``"007"`` into ``7``: it is off, and so is its
  text decoding (``charset=None``): replies are bytes, decoded here.
- A connection that stops answering (a silent partition) is dropped after ``reply_timeout``
  so the pool reconnects; reconnection backs off from 0.2 s to at most 1 s.

Durability is Redis's: with ``appendonly yes`` and ``appendfsync always`` an acknowledged
batch is on disk before Redis answers (survives a Redis crash and a power loss);
``appendfsync everysec`` survives a crash of the Redis process but may lose the last second
on power loss. RDB snapshots alone lose recent writes on any crash: don't use them for rooms.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any
from urllib.parse import unquote, urlparse

import txredisapi
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kasagi.core import Batch
from kasagi.core.results import instance_floor_key, producer_key
from kasagi.deadline import within
from kasagi.store import redis_scripts as lua
from kasagi.store.codec import decode_event, decode_int, decode_json, decode_map, dumps
from kasagi.store.interface import (
    CorruptRoom,
    Event,
    NowMs,
    RoomExists,
    SeqConflict,
    StaleEpoch,
    StoredRoom,
    StoreError,
    StoreLimits,
    StoreUnavailable,
    wall_ms,
)

__all__ = ["CHUNK", "RedisRoomStore", "parse_redis_url", "redis_pool"]

#: Events per reply when reading a room's history (bounds every reply's size).
CHUNK = 1000


def parse_redis_url(url: str) -> tuple[str, int, int, str | None]:
    """``redis://[:password@]host[:port][/db]`` -> (host, port, db, password)."""
    parsed = urlparse(url)
    if parsed.scheme != "redis" or not parsed.hostname:
        raise ValueError(f"not a redis URL: {url!r} (expected redis://host:port/db)")
    path = parsed.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"the database in {url!r} must be a number")
    password = unquote(parsed.password) if parsed.password else None
    return parsed.hostname, parsed.port or 6379, int(path or 0), password


def redis_pool(url: str, connect_wait: float, reply_timeout: float) -> tuple[Any, str]:
    """A one-connection txredisapi pool for ``url`` that reconnects by itself (0.2 s, then at
    most 1 s apart), and where it points (``host:port/db``, for messages)."""
    host, port, db, password = parse_redis_url(url)
    conn = txredisapi.lazyConnectionPool(
        host,
        port,
        dbid=db,
        poolsize=1,
        reconnect=True,
        charset=None,
        password=password,
        connectTimeout=connect_wait,
        replyTimeout=reply_timeout,
        convertNumbers=False,
    )
    conn._factory.initialDelay, conn._factory.maxDelay = 0.2, 1.0
    return conn, f"{host}:{port}/{db}"


class RedisRoomStore:
    """Rooms in Redis. Build with :meth:`open`."""

    log = Logger()

    def __init__(self, conn: Any, where: str, *, limits: StoreLimits, now_ms: NowMs, prefix: str = "kasagi") -> None:
        self._conn = conn
        self.where = where
        self.limits = limits
        self._now_ms = now_ms
        self._prefix = prefix

    @classmethod
    def open(
        cls,
        url: str,
        reactor: Any,
        *,
        limits: StoreLimits | None = None,
        now_ms: NowMs = wall_ms,
        connect_wait: float = 5.0,
        reply_timeout: float = 10.0,
        prefix: str = "kasagi",
    ) -> Deferred[RedisRoomStore]:
        """Connect to ``url``. Waits up to ``connect_wait`` for the first connection, then
        returns the store anyway: while Redis is unreachable every call fails fast, and the
        pool keeps reconnecting."""
        conn, where = redis_pool(url, connect_wait, reply_timeout)
        factory = conn._factory
        store = cls(conn, where, limits=limits or StoreLimits(), now_ms=now_ms, prefix=prefix)
        # Fires once the pool holds its connection (``getConnection`` fires a moment earlier).
        pool_ready: Deferred[Any] = Deferred()
        factory.deferred.chainDeferred(pool_ready)
        first = within(pool_ready, connect_wait, reactor, "redis connect")

        def ready(_: object) -> RedisRoomStore:
            store.log.info("room store: redis {where}", where=store.where)
            return store

        def not_yet(failure: Failure) -> RedisRoomStore:
            store.log.warn(
                "room store: redis {where} not reachable yet ({why}); retrying in the background",
                where=store.where,
                why=failure.getErrorMessage(),
            )
            return store

        return first.addCallbacks(ready, not_yet)

    @property
    def connected(self) -> bool:
        return bool(self._conn._factory.size)

    def _keys(self, room: str) -> list[str]:
        base = f"{self._prefix}:{{{room}}}"
        return [f"{base}:head", f"{base}:events", f"{base}:results"]

    def _eval(self, script: str, room: str, keys: list[str], args: list[Any]) -> Deferred[Any]:
        if not self.connected:
            return fail(StoreUnavailable(f"redis {self.where} is not connected"))
        sha = _sha1(script)
        try:
            # EVALSHA first (the script is cached after its first EVAL); EVAL once after a
            # Redis restart emptied the cache. NOSCRIPT means nothing ran, so no double apply.
            d: Deferred[Any] = self._conn.evalsha(sha, keys, args)
        except Exception as exc:  # noqa: BLE001 -- txredisapi raises for a dead connection
            return fail(StoreUnavailable(f"redis {self.where}: {exc}"))

        def uncached(failure: Failure) -> Any:
            failure.trap(txredisapi.ScriptDoesNotExist)
            return self._conn.eval(script, keys, args)

        return d.addErrback(uncached).addErrback(self._translate, room)

    def _translate(self, failure: Failure, room: str) -> Failure:
        if failure.check(StoreError):
            return failure
        if failure.check(txredisapi.ResponseError):
            message = str(failure.value).split(" script: ", 1)[0]
            code, _, detail = message.partition(" ")
            if code == "KASAGI_STALE":
                return Failure(StaleEpoch(f"room {room}: stored epoch {detail}"))
            if code == "KASAGI_SEQ":
                return Failure(SeqConflict(f"room {room}: stored seq {detail}"))
            if code == "KASAGI_EXISTS":
                return Failure(RoomExists(room))
            if code == "KASAGI_MISSING":
                return Failure(StoreError(f"room {room} is not stored"))
            if code == "KASAGI_CORRUPT":
                return Failure(CorruptRoom(room, detail))
            if code in ("WRONGTYPE",):
                return Failure(CorruptRoom(room, message))
            return Failure(StoreError(f"redis {self.where}: {message[:200]}"))
        if failure.check(txredisapi.ConnectionError):
            # Sent, but the answer was lost: the write may or may not have happened.
            return Failure(StoreError(f"redis {self.where}: {failure.getErrorMessage()} (outcome unknown)"))
        return failure

    # -- reads ---------------------------------------------------------------------------------
    def load(self, room: str) -> Deferred[StoredRoom | None]:
        return Deferred.fromCoroutine(self._load(room))

    async def _load(self, room: str) -> StoredRoom | None:
        keys = self._keys(room)
        for _ in range(3):
            reply = await self._eval(lua.LOAD, room, keys, [])
            if not reply:
                return None
            raw_head, raw_results = reply
            head = _pairs(raw_head)
            epoch = decode_int(head.get(b"epoch"), room, "the stored epoch")
            seq = decode_int(head.get(b"seq"), room, "the stored seq")
            snapshot_seq = decode_int(head.get(b"snap_seq"), room, "the snapshot seq")
            tail = await self._read_events(room, epoch, snapshot_seq, seq, snapshot_seq)
            if tail is not None:
                break
        else:
            raise StoreError(f"room {room} kept changing while it was loading; retry")
        results: dict[str, dict[int, int]] = {}
        floors: dict[str, int] = {}
        for member_raw, value in _pairs(raw_results).items():
            member = _text(member_raw, room, "a result's member id")
            mine: dict[int, int] = {}
            for pair in _text(value, room, f"the results of {member}").split():
                cseq, _, rseq = pair.partition(":")
                cseq_int = decode_int(cseq, room, f"a cseq of {member}")
                seq_int = decode_int(rseq, room, f"a result seq of {member}")
                if seq_int == 0:
                    floors[member] = cseq_int  # not a result: the floor (kasagi.core.results)
                else:
                    mine[cseq_int] = seq_int
            if mine:
                results[member] = mine
        return StoredRoom(
            room=room,
            type=_text(head.get(b"type"), room, "the room type"),
            options=decode_map(_bytes(head.get(b"options"), room, "the room options"), room, "the room options"),
            epoch=epoch,
            seq=seq,
            snapshot_seq=snapshot_seq,
            snapshot=decode_map(_bytes(head.get(b"snap"), room, "the snapshot"), room, "the snapshot"),
            tail=tail,
            results=results,
            floors=floors,
        )

    async def _read_events(self, room: str, epoch: int, after: int, upto: int, snap_seq: int) -> list[Event] | None:
        """The stored events after..upto of ``epoch``, in chunks; stops at a gap (history not
        intact: the caller judges). None if the room moved on meanwhile (another epoch, or a
        newer snapshot trimmed what was being read): load again."""
        keys = self._keys(room)[:2]
        events: list[Event] = []
        while after < upto:
            args = [str(epoch), str(after), str(upto), str(CHUNK), "joined"]
            reply = await self._eval(lua.RANGE, room, keys, args)
            if not reply or reply[0] != 1 or decode_int(reply[2], room, "the snapshot seq") != snap_seq:
                return None
            chunk = self._decode_joined(reply, room, epoch)
            if chunk is None:  # a bad entry somewhere: read the chunk entry by entry to name it
                args[-1] = "entries"
                reply = await self._eval(lua.RANGE, room, keys, args)
                if not reply or reply[0] != 1:
                    return None
                chunk = _decode_entries(reply[3], room, epoch)
            if not chunk:
                break
            events += chunk
            if chunk[0]["seq"] != after + 1:
                break  # a gap
            after = chunk[-1]["seq"]
        return events

    @staticmethod
    def _decode_joined(reply: Any, room: str, epoch: int) -> list[Event] | None:
        ids = [i for i in _bytes(reply[3], room, "event ids").split(b",") if i]
        try:
            raw = decode_json(_bytes(reply[4], room, "events"), room, "events")
        except CorruptRoom:
            return None
        if not isinstance(raw, list) or len(raw) != len(ids):
            return None
        return [decode_event(e, room, epoch, _id_seq(i, room)) for i, e in zip(ids, raw, strict=True)]

    def events_since(self, room: str, epoch: int, seq: int) -> Deferred[list[Event] | None]:
        if seq < 0:
            return succeed(None)
        return Deferred.fromCoroutine(self._events_since(room, epoch, seq))

    async def _events_since(self, room: str, epoch: int, since: int) -> list[Event] | None:
        reply = await self._eval(lua.RANGE, room, self._keys(room)[:2], [str(epoch), str(since), "", "0", "entries"])
        if not reply or reply[0] != 1:
            return None
        head = decode_int(reply[1], room, "the stored seq")
        snap_seq = decode_int(reply[2], room, "the snapshot seq")
        events = await self._read_events(room, epoch, since, head, snap_seq)
        if events is None or len(events) != head - since or (events and events[0]["seq"] != since + 1):
            return None
        return events

    # -- writes --------------------------------------------------------------------------------
    def create(
        self, room: str, type_name: str, options: dict[str, Any], epoch: int, state: dict[str, Any]
    ) -> Deferred[None]:
        d = self._eval(lua.CREATE, room, self._keys(room), [type_name, dumps(options), str(epoch), dumps(state)])
        return d.addCallback(lambda _: None)

    def append(self, batch: Batch) -> Deferred[None]:
        args: list[Any] = [
            str(batch.epoch),
            str(batch.seq),
            dumps(batch.event),
            str(self._now_ms()),
            str(self.limits.results_per_member),
            str(len(batch.dropped)),
        ]
        for member, instance in batch.dropped:
            args += [producer_key(member, instance), instance_floor_key(member), str(instance)]
        for producer, cseq in batch.acks:
            args += [producer, str(cseq)]
        return self._eval(lua.APPEND, batch.room, self._keys(batch.room), args).addCallback(lambda _: None)

    def save_snapshot(self, room: str, epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        limits = self.limits
        args = [
            str(epoch),
            str(seq),
            dumps(state),
            str(self._now_ms()),
            str(limits.history_events),
            str(int(limits.history_seconds * 1000)),
            str(limits.hard_cap),
            str(limits.history_bytes),
        ]
        return self._eval(lua.SNAPSHOT, room, self._keys(room)[:2], args).addCallback(lambda _: None)

    def set_epoch(self, room: str, old_epoch: int, new_epoch: int, seq: int, state: dict[str, Any]) -> Deferred[None]:
        args = [str(old_epoch), str(new_epoch), str(seq), dumps(state)]
        return self._eval(lua.SET_EPOCH, room, self._keys(room), args).addCallback(lambda _: None)

    def close(self) -> Deferred[None]:
        d: Deferred[Any] = self._conn.disconnect()
        return d.addCallback(lambda _: None)


def _decode_entries(entries: Any, room: str, epoch: int) -> list[Event]:
    return [decode_event(_entry_event(e, room), room, epoch, _entry_seq(e, room)) for e in entries]


@functools.cache
def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode("utf-8")).hexdigest()  # noqa: S324 -- Redis names scripts by SHA-1


def _pairs(flat: Any) -> dict[bytes, Any]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def _bytes(raw: Any, room: str, what: str) -> bytes:
    if not isinstance(raw, bytes):
        raise CorruptRoom(room, f"{what} is missing")
    return raw


def _text(raw: Any, room: str, what: str) -> str:
    try:
        return _bytes(raw, room, what).decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptRoom(room, f"{what} is not UTF-8 text") from None


def _entry_seq(entry: Any, room: str) -> int:
    return _id_seq(entry[0], room)


def _id_seq(raw: Any, room: str) -> int:
    entry_id = _text(raw, room, "an event id")
    seq, _, sub = entry_id.partition("-")
    if sub != "0":
        raise CorruptRoom(room, f"the event id {entry_id} is not <seq>-0")
    return decode_int(seq, room, f"the event id {entry_id}")


def _entry_event(entry: Any, room: str) -> bytes:
    fields = _pairs(entry[1])
    return _bytes(fields.get(b"e"), room, f"the event {entry[0]!r:.40}")
