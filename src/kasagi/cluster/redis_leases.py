"""Leases and room ownership in Redis (see :mod:`kasagi.cluster.leases` for the model).

Every operation is one Lua script, so each compare-and-set is atomic. The scripts read keys
they compute from their arguments (a worker's lease while claiming a room), so all these keys
must live on one Redis instance: the *coordination* instance, which may be the rooms' store
or a separate small one (a few writes per worker per second, one per room opened or moved).

Keys (``P`` is the prefix, ``kasagi:`` by default)::

    P lease:<worker>    string, the worker id, with a TTL: the worker is alive while it exists
    P workers           hash worker -> JSON load {"rooms", "sessions", ...}
    P owner:<room>      hash worker, epoch, state (owned | handover | free), type
    P rooms:<worker>    set of the rooms a worker owns (so a reaper finds them)
    P reap:<worker>     string with a TTL: who is taking over a dead worker's rooms

Every call is raced against a deadline: txredisapi queues commands while Redis is down and
would otherwise wait forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IReactorTime

from kasagi.cluster.leases import Claim, Heartbeat, OwnerRecord, OwnerState, WorkerInfo, decode_load, encode_load
from kasagi.deadline import within

__all__ = ["RedisLeases", "parse_redis_url"]

_HEARTBEAT = """
local lapsed = 0
if redis.call('EXISTS', KEYS[1]) == 0 then lapsed = 1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local all = redis.call('HGETALL', KEYS[2])
local out = {lapsed}
for i = 1, #all, 2 do
  out[#out + 1] = all[i]
  out[#out + 1] = redis.call('EXISTS', ARGV[4] .. all[i])
  out[#out + 1] = all[i + 1]
end
return out
"""

_CLAIM = """
local rec = redis.call('HMGET', KEYS[1], 'worker', 'epoch', 'state', 'type')
local w, e, s, t = rec[1], rec[2] or '0', rec[3] or '', rec[4] or ''
if redis.call('EXISTS', KEYS[2]) == 0 then return {'lapsed', w or '', e, s, t} end
if w and w ~= ARGV[1] and s == 'owned' and redis.call('EXISTS', ARGV[2] .. w) == 1 then
  return {'owned', w, e, s, t}
end
redis.call('HSET', KEYS[1], 'worker', ARGV[1], 'state', 'owned', 'epoch', e, 'type', t)
redis.call('SADD', ARGV[3] .. ARGV[1], ARGV[4])
if w and w ~= ARGV[1] then redis.call('SREM', ARGV[3] .. w, ARGV[4]) end
return {'won', w or '', e, s, t}
"""

_CONFIRM = """
local rec = redis.call('HMGET', KEYS[1], 'worker', 'state')
if rec[1] ~= ARGV[1] or rec[2] ~= 'owned' then return 0 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'type', ARGV[3])
return 1
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'worker') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'state', ARGV[3])
redis.call('SREM', KEYS[2], ARGV[4])
return 1
"""

_REAP = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local rooms = redis.call('SMEMBERS', KEYS[3])
table.insert(rooms, 1, 'rooms')
return rooms
"""

_FORGET = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4])
return 1
"""

_LEAVE = """
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""


def parse_redis_url(url: str) -> tuple[str, int, int]:
    """``redis://host:port/db`` -> (host, port, db)."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme != "redis":
        raise ValueError(f"expected redis://host:port/db, got {url!r}")
    db = int(parsed.path.lstrip("/") or 0)
    return parsed.hostname or "127.0.0.1", parsed.port or 6379, db


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _record(worker: Any, epoch: Any, state: Any, type_name: Any) -> OwnerRecord | None:
    w = _text(worker)
    if not w:
        return None
    s = _text(state)
    return OwnerRecord(
        w,
        int(_text(epoch) or 0),
        cast(OwnerState, s if s in ("owned", "handover", "free") else "free"),
        _text(type_name),
    )


class RedisLeases:
    """:class:`~kasagi.cluster.leases.Leases` on a txredisapi connection (numbers not
    converted: ``convertNumbers=False``)."""

    def __init__(
        self,
        redis: Any,
        clock: IReactorTime,
        *,
        ttl: float = 1.2,
        reap_ttl: float = 5.0,
        deadline: float = 1.0,
        prefix: str = "kasagi:",
    ) -> None:
        self._redis = redis
        self._clock = clock
        self.ttl = ttl
        self.reap_ttl = reap_ttl
        self._deadline = deadline
        self._p = prefix

    @classmethod
    def connect(cls, url: str, clock: IReactorTime, **kwargs: Any) -> RedisLeases:
        """Leases on a (lazy, reconnecting) connection to ``redis://host:port/db``."""
        import txredisapi

        host, port, db = parse_redis_url(url)
        conn = txredisapi.lazyConnection(host, port, dbid=db, reconnect=True, convertNumbers=False, connectTimeout=2.0)
        return cls(conn, clock, **kwargs)

    def close(self) -> Deferred[None]:
        return cast(Deferred[None], self._redis.disconnect())

    def _eval(self, script: str, keys: list[str], args: list[Any], what: str) -> Deferred[Any]:
        return within(self._redis.eval(script, keys, [str(a) for a in args]), self._deadline, self._clock, what)

    def _lease(self, worker: str) -> str:
        return f"{self._p}lease:{worker}"

    def _owner(self, room: str) -> str:
        return f"{self._p}owner:{room}"

    def _rooms(self, worker: str) -> str:
        return f"{self._p}rooms:{worker}"

    @inlineCallbacks
    def heartbeat(self, worker: str, load: Mapping[str, Any]):  # type: ignore[no-untyped-def]
        reply = yield self._eval(
            _HEARTBEAT,
            [self._lease(worker), f"{self._p}workers"],
            [worker, int(self.ttl * 1000), encode_load(load), f"{self._p}lease:"],
            "lease heartbeat",
        )
        workers: dict[str, WorkerInfo] = {}
        for i in range(1, len(reply), 3):
            name = _text(reply[i])
            workers[name] = WorkerInfo(name, int(_text(reply[i + 1])) == 1, decode_load(_text(reply[i + 2])))
        return Heartbeat(int(_text(reply[0])) == 1, workers)

    @inlineCallbacks
    def claim(self, room: str, worker: str):  # type: ignore[no-untyped-def]
        reply = yield self._eval(
            _CLAIM,
            [self._owner(room), self._lease(worker)],
            [worker, f"{self._p}lease:", f"{self._p}rooms:", room],
            "room claim",
        )
        outcome = _text(reply[0])
        previous = _record(*reply[1:5])
        if outcome == "lapsed":
            return Claim(False, previous, lease_ok=False)
        return Claim(outcome == "won", previous)

    def confirm(self, room: str, worker: str, epoch: int, type_name: str) -> Deferred[bool]:
        d = self._eval(_CONFIRM, [self._owner(room)], [worker, epoch, type_name], "room confirm")
        return d.addCallback(lambda r: int(_text(r)) == 1)

    def release(self, room: str, worker: str, epoch: int, handover: bool) -> Deferred[bool]:
        state = "handover" if handover else "free"
        d = self._eval(_RELEASE, [self._owner(room), self._rooms(worker)], [worker, epoch, state, room], "room release")
        return d.addCallback(lambda r: int(_text(r)) == 1)

    @inlineCallbacks
    def owners(self, rooms: Iterable[str]):  # type: ignore[no-untyped-def]
        names = list(rooms)
        out: dict[str, OwnerRecord | None] = {}
        for room in names:
            values = yield within(
                self._redis.hmget(self._owner(room), ["worker", "epoch", "state", "type"]),
                self._deadline,
                self._clock,
                "owner read",
            )
            out[room] = _record(*values)
        return out

    @inlineCallbacks
    def reap(self, dead: str, worker: str):  # type: ignore[no-untyped-def]
        reply = yield self._eval(
            _REAP,
            [self._lease(dead), f"{self._p}reap:{dead}", self._rooms(dead)],
            [worker, int(self.reap_ttl * 1000)],
            "reap",
        )
        if reply is None:
            return None
        return sorted(_text(r) for r in reply[1:])

    def forget(self, dead: str) -> Deferred[bool]:
        d = self._eval(
            _FORGET,
            [self._lease(dead), f"{self._p}workers", self._rooms(dead), f"{self._p}reap:{dead}"],
            [dead],
            "forget worker",
        )
        return d.addCallback(lambda r: int(_text(r)) == 1)

    def expire(self, worker: str) -> Deferred[None]:
        """End ``worker``'s lease now (an operator evicting a worker; tests)."""
        d = within(self._redis.delete(self._lease(worker)), self._deadline, self._clock, "expire lease")
        return d.addCallback(lambda _: None)

    def leave(self, worker: str) -> Deferred[None]:
        d = self._eval(_LEAVE, [self._lease(worker), f"{self._p}workers", self._rooms(worker)], [worker], "leave")
        return d.addCallback(lambda _: None)
