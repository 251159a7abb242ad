"""The listing store in Redis: every router and worker of a cluster reads the same listing.

Keys (one hash tag, ``{lobby}``, so every script's keys share a Redis Cluster slot):

- ``<prefix>:{lobby}:type:<T>`` -- a sorted set (score 0, so in room-id order) of the rooms of
  type ``T`` that are listed;
- ``<prefix>:{lobby}:room:<R>`` -- a hash: ``type``, ``epoch``, ``meta`` (JSON, as written),
  ``members``, ``max``;
- ``<prefix>:{lobby}:res:<R>`` -- a hash: member -> reservation expiry (ms);
- ``<prefix>:{lobby}:secret`` -- the signing secret of cursors.

Each operation is one Lua script, so a reservation's search and seat are one atomic step for
every worker. The scripts follow the rules of :mod:`kasagi.lobby.seats` (typed equality of
metadata: Lua compares ``type()`` first). Epochs are compared as Lua numbers: they are below
2^53, so exactly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import txredisapi
from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure

from kasagi.deadline import within
from kasagi.lobby.interface import ListedRoom, Seat
from kasagi.store.interface import StoreUnavailable
from kasagi.store.redis import redis_pool

__all__ = ["RedisListingStore"]

_COMMON = r"""
local P = ARGV[1]
local function live(resk, now, member)
  local flat = redis.call('HGETALL', resk)
  local n, mine = 0, false
  for i = 1, #flat, 2 do
    if tonumber(flat[i + 1]) > now then
      n = n + 1
      if flat[i] == member then mine = true end
    else
      redis.call('HDEL', resk, flat[i])
    end
  end
  return n, mine
end
local function drop(typek, room)
  redis.call('DEL', P .. 'room:' .. room, P .. 'res:' .. room)
  redis.call('ZREM', typek, room)
end
"""

#: KEYS type set; ARGV prefix, room, type, epoch, meta, members, max, now, joined...
PUT = (
    "#!lua\n"
    + _COMMON
    + r"""
local room = ARGV[2]
local rk, resk = P .. 'room:' .. room, P .. 'res:' .. room
local cur = redis.call('HGET', rk, 'epoch')
if cur and tonumber(cur) > tonumber(ARGV[4]) then return false end
redis.call('HSET', rk, 'type', ARGV[3], 'epoch', ARGV[4], 'meta', ARGV[5], 'members', ARGV[6], 'max', ARGV[7])
redis.call('ZADD', KEYS[1], 0, room)
for i = 9, #ARGV do redis.call('HDEL', resk, ARGV[i]) end
local n = live(resk, tonumber(ARGV[8]), '')
return n
"""
)

#: KEYS type set; ARGV prefix, room, epoch.
REMOVE = (
    "#!lua\n"
    + _COMMON
    + r"""
local cur = redis.call('HGET', P .. 'room:' .. ARGV[2], 'epoch')
if cur and tonumber(cur) > tonumber(ARGV[3]) then return 0 end
drop(KEYS[1], ARGV[2])
return 1
"""
)

#: KEYS type set; ARGV prefix, after, count, now -> flat [room, epoch, meta, members, max, reserved]...
PAGE = (
    "#!lua\n"
    + _COMMON
    + r"""
local from = '-'
if ARGV[2] ~= '' then from = '(' .. ARGV[2] end
local rooms = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, room in ipairs(rooms) do
  local h = redis.call('HMGET', P .. 'room:' .. room, 'epoch', 'meta', 'members', 'max')
  if h[1] then
    local n = live(P .. 'res:' .. room, tonumber(ARGV[4]), '')
    for _, v in ipairs({room, h[1], h[2], h[3], h[4], tostring(n)}) do out[#out + 1] = v end
  end
end
return out
"""
)

#: KEYS type set; ARGV prefix, type, criteria, member, seats, now, ttl, new room
#: -> [room, created, epoch, meta, members, max, reserved]
RESERVE = (
    "#!lua\n"
    + _COMMON
    + r"""
local rtype, crit_raw, member = ARGV[2], ARGV[3], ARGV[4]
local seats, now, ttl, new_room = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local crit = cjson.decode(crit_raw)
local function fits(meta)
  for k, v in pairs(crit) do
    local m = meta[k]
    if m == nil or type(m) ~= type(v) or m ~= v then return false end
  end
  return true
end
local chosen, held = nil, nil
for _, room in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HMGET', P .. 'room:' .. room, 'epoch', 'meta', 'members', 'max')
  if not h[1] then
    redis.call('ZREM', KEYS[1], room)
  else
    local n, mine = live(P .. 'res:' .. room, now, member)
    if h[1] == '0' and n == 0 then
      drop(KEYS[1], room)
    elseif fits(cjson.decode(h[2])) then
      if mine then held = {room, h, n} break end
      if not chosen and tonumber(h[3]) + n < tonumber(h[4]) then chosen = {room, h, n} end
    end
  end
end
if held then
  return {held[1], 0, held[2][1], held[2][2], held[2][3], held[2][4], held[3]}
end
if chosen then
  redis.call('HSET', P .. 'res:' .. chosen[1], member, tostring(now + ttl))
  return {chosen[1], 0, chosen[2][1], chosen[2][2], chosen[2][3], chosen[2][4], chosen[3] + 1}
end
redis.call('HSET', P .. 'room:' .. new_room, 'type', rtype, 'epoch', '0', 'meta', crit_raw,
           'members', '0', 'max', seats)
redis.call('ZADD', KEYS[1], 0, new_room)
redis.call('HSET', P .. 'res:' .. new_room, member, tostring(now + ttl))
return {new_room, 1, '0', crit_raw, '0', seats, 1}
"""
)

#: KEYS type set; ARGV prefix, room, member, now.
RELEASE = (
    "#!lua\n"
    + _COMMON
    + r"""
local room = ARGV[2]
redis.call('HDEL', P .. 'res:' .. room, ARGV[3])
local epoch = redis.call('HGET', P .. 'room:' .. room, 'epoch')
if epoch == '0' then
  local n = live(P .. 'res:' .. room, tonumber(ARGV[4]), '')
  if n == 0 then drop(KEYS[1], room) end
end
return 1
"""
)


class RedisListingStore:
    """Listed rooms in Redis. Build with :meth:`open`."""

    def __init__(self, conn: Any, where: str, prefix: str) -> None:
        self._conn = conn
        self.where = where
        self._prefix = f"{prefix}:{{lobby}}:"

    @classmethod
    def open(
        cls, url: str, reactor: Any, *, prefix: str = "kasagi", connect_wait: float = 5.0, reply_timeout: float = 10.0
    ) -> Deferred[RedisListingStore]:
        """Connect to ``url`` (waits up to ``connect_wait`` for the first connection; while
        Redis is unreachable every call fails fast, and the pool keeps reconnecting)."""
        conn, where = redis_pool(url, connect_wait, reply_timeout)
        factory = conn._factory
        store = cls(conn, where, prefix)
        ready: Deferred[Any] = Deferred()
        factory.deferred.chainDeferred(ready)
        first = within(ready, connect_wait, reactor, "redis connect")
        return first.addBoth(lambda _: store)

    def _type_key(self, type_name: str) -> str:
        return f"{self._prefix}type:{type_name}"

    def _eval(self, script: str, keys: list[str], args: list[Any]) -> Deferred[Any]:
        if not self._conn._factory.size:
            return fail(StoreUnavailable(f"redis {self.where} is not connected"))
        try:
            d: Deferred[Any] = self._conn.evalsha(_sha1(script), keys, args)
        except Exception as exc:  # noqa: BLE001 -- txredisapi raises for a dead connection
            return fail(StoreUnavailable(f"redis {self.where}: {exc}"))

        def uncached(failure: Failure) -> Any:
            failure.trap(txredisapi.ScriptDoesNotExist)
            return self._conn.eval(script, keys, args)

        return d.addErrback(uncached)

    def _listed(self, room: str, type_name: str, fields: Sequence[Any]) -> ListedRoom:
        epoch, meta, members, max_members, reserved = fields
        return ListedRoom(
            room, type_name, int(epoch), json.loads(_text(meta)), int(members), int(max_members), int(reserved)
        )

    def put(self, listed: ListedRoom, joined: Sequence[str], now_ms: int) -> Deferred[ListedRoom | None]:
        args = [
            self._prefix,
            listed.room,
            listed.type,
            str(listed.epoch),
            _dumps(listed.meta),
            str(listed.members),
            str(listed.max_members),
            str(now_ms),
            *joined,
        ]

        def stored(reserved: Any) -> ListedRoom | None:
            if reserved is None:
                return None
            return ListedRoom(
                listed.room,
                listed.type,
                listed.epoch,
                dict(listed.meta),
                listed.members,
                listed.max_members,
                int(reserved),
            )

        return self._eval(PUT, [self._type_key(listed.type)], args).addCallback(stored)

    def remove(self, room: str, type_name: str, epoch: int) -> Deferred[bool]:
        d = self._eval(REMOVE, [self._type_key(type_name)], [self._prefix, room, str(epoch)])
        return d.addCallback(lambda n: int(n) == 1)

    def page(self, type_name: str, after: str, count: int, now_ms: int) -> Deferred[list[ListedRoom]]:
        d = self._eval(PAGE, [self._type_key(type_name)], [self._prefix, after, str(count), str(now_ms)])

        def rows(flat: Any) -> list[ListedRoom]:
            flat = list(flat or [])
            return [self._listed(_text(flat[i]), type_name, flat[i + 1 : i + 6]) for i in range(0, len(flat), 6)]

        return d.addCallback(rows)

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
        args = [self._prefix, type_name, _dumps(criteria), member, str(seats), str(now_ms), str(ttl_ms), new_room]
        d = self._eval(RESERVE, [self._type_key(type_name)], args)

        def seat(reply: Any) -> Seat:
            room = _text(reply[0])
            return Seat(room, int(reply[1]) == 1, self._listed(room, type_name, reply[2:7]))

        return d.addCallback(seat)

    def release(self, room: str, type_name: str, member: str, now_ms: int) -> Deferred[None]:
        d = self._eval(RELEASE, [self._type_key(type_name)], [self._prefix, room, member, str(now_ms)])
        return d.addCallback(lambda _: None)

    def reservations(self, room: str, now_ms: int) -> Deferred[dict[str, int]]:
        if not self._conn._factory.size:
            return fail(StoreUnavailable(f"redis {self.where} is not connected"))
        d: Deferred[Any] = self._conn.hgetall(f"{self._prefix}res:{room}")

        def live(raw: Any) -> dict[str, int]:
            return {_text(m): int(t) for m, t in (raw or {}).items() if int(t) > now_ms}

        return d.addCallback(live)

    def secret(self) -> Deferred[bytes]:
        key = f"{self._prefix}secret"
        if not self._conn._factory.size:
            return fail(StoreUnavailable(f"redis {self.where} is not connected"))
        d: Deferred[Any] = self._conn.set(key, secrets.token_hex(32), only_if_not_exists=True)
        d.addCallback(lambda _: self._conn.get(key))
        return d.addCallback(lambda raw: bytes.fromhex(_text(raw)))

    def close(self) -> Deferred[None]:
        d: Deferred[Any] = self._conn.disconnect()
        return d.addCallback(lambda _: None)


@functools.cache
def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode("utf-8")).hexdigest()  # noqa: S324 -- Redis names scripts by SHA-1


def _text(raw: Any) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
