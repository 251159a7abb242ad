"""The Lua scripts of the Redis store: each operation is one script, so it is atomic.

Keys of a room ``R`` (the ``{R}`` hash tag keeps them in one Redis Cluster slot):

- ``kasagi:{R}:head`` -- a hash: ``fmt`` (1), ``type``, ``options`` (JSON), ``epoch``, ``seq``,
  ``snap_seq``, ``snap`` (JSON, the state at ``snap_seq``);
- ``kasagi:{R}:events`` -- a stream; event ``seq`` has the id ``<seq>-0`` and the fields ``e``
  (the event, JSON) and ``t`` (when it was stored, ms), trimmed to the history window;
- ``kasagi:{R}:results`` -- a hash: producer key (the member, or ``<member>/<instance>``,
  :mod:`kasagi.core.results`) -> ``"cseq:seq cseq:seq ..."``, its highest cseqs; a pair
  ``floor:0`` is its floor (the highest cseq dropped from the window), and under
  ``<member>/`` the member's instance floor.

Write scripts check everything (fences, key types, the stream's top id) before their first
write: Redis does not roll a script back, so a script that fails must fail before writing.
They carry the ``#!lua`` shebang, so Redis refuses them up front when it is out of memory.
Errors are raised as ``KASAGI_<CODE> <detail>``; numbers travel as decimal strings both ways
(no Lua arithmetic on epochs, whose text is kept exactly).
"""

from __future__ import annotations

__all__ = ["APPEND", "CREATE", "LOAD", "RANGE", "SET_EPOCH", "SNAPSHOT"]

_COMMON = r"""
local function fail(code, msg) error({err = code .. ' ' .. msg}) end
local function kind(key) return redis.call('TYPE', key).ok end
local function expect(key, want)
  local k = kind(key)
  if k ~= 'none' and k ~= want then
    fail('KASAGI_CORRUPT', 'the key ' .. key .. ' holds a ' .. k .. ', not a ' .. want)
  end
  return k ~= 'none'
end
local NAMES = {'fmt', 'epoch', 'seq', 'snap_seq'}
local function head(key)
  local k = kind(key)
  if k == 'none' then return nil end
  if k ~= 'hash' then fail('KASAGI_CORRUPT', 'the head key ' .. key .. ' holds a ' .. k .. ', not a hash') end
  local h = redis.call('HMGET', key, 'fmt', 'epoch', 'seq', 'snap_seq')
  if h[1] ~= '1' then
    fail('KASAGI_CORRUPT', 'the head key ' .. key .. ' has format ' .. tostring(h[1] or 'missing') .. ', expected 1')
  end
  for i = 2, 4 do
    if not h[i] or not string.match(h[i], '^%d+$') then
      fail('KASAGI_CORRUPT', 'the head field ' .. NAMES[i] .. ' is ' .. tostring(h[i] or 'missing') .. ', not a number')
    end
  end
  return h
end
local function seq_of(id) return tonumber(string.match(id, '^(%d+)')) end
"""

#: KEYS head, events, results; ARGV type, options, epoch, snapshot.
CREATE = (
    "#!lua\n"
    + _COMMON
    + r"""
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 then fail('KASAGI_EXISTS', 'the room is stored') end
redis.call('HSET', KEYS[1], 'fmt', '1', 'type', ARGV[1], 'options', ARGV[2], 'epoch', ARGV[3],
           'seq', '0', 'snap_seq', '0', 'snap', ARGV[4])
return 1
"""
)

#: KEYS head, events, results; ARGV epoch, seq, event, t_ms, keep, the number of dropped
#: instances, for each its producer key, its member's floor key and its instance id, then
#: producer key, cseq pairs.
APPEND = (
    "#!lua\n"
    + _COMMON
    + r"""
local h = head(KEYS[1])
if not h then fail('KASAGI_MISSING', 'the room is not stored') end
if h[2] ~= ARGV[1] then fail('KASAGI_STALE', h[2]) end
local seq = tonumber(ARGV[2])
if tonumber(h[3]) ~= seq - 1 then fail('KASAGI_SEQ', h[3]) end
expect(KEYS[3], 'hash')
if expect(KEYS[2], 'stream') then
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if top[1] and seq_of(top[1][1]) >= seq then
    fail('KASAGI_CORRUPT', 'the event stream already holds ' .. top[1][1] .. ' but the head is at seq ' .. h[3])
  end
end
-- Every check passed; the writes below can't fail.
redis.call('XADD', KEYS[2], ARGV[2] .. '-0', 'e', ARGV[3], 't', ARGV[4])
redis.call('HSET', KEYS[1], 'seq', ARGV[2])
-- One producer's results: its {cseq, seq} pairs and its floor, as strings (numbers up to
-- 2**53 - 1 are compared with tonumber but never printed by Lua).
local function read(field)
  local pairs_, floor = {}, nil
  local v = redis.call('HGET', KEYS[3], field)
  if v then
    for c, s in string.gmatch(v, '(%d+):(%d+)') do
      if s == '0' then floor = c else pairs_[#pairs_ + 1] = {c, s} end
    end
  end
  return pairs_, floor
end
local function raise(floor, c)
  if not floor or tonumber(c) > tonumber(floor) then return c end
  return floor
end
local function write(field, pairs_, floor)
  local out = {}
  for j, p in ipairs(pairs_) do out[j] = p[1] .. ':' .. p[2] end
  if floor then out[#out + 1] = floor .. ':0' end
  redis.call('HSET', KEYS[3], field, table.concat(out, ' '))
end
local n = tonumber(ARGV[6])
for i = 7, 6 + 3 * n, 3 do
  redis.call('HDEL', KEYS[3], ARGV[i])
  local pairs_, floor = read(ARGV[i + 1])
  write(ARGV[i + 1], pairs_, raise(floor, ARGV[i + 2]))
end
local keep = tonumber(ARGV[5])
for i = 7 + 3 * n, #ARGV, 2 do
  local pairs_, floor = read(ARGV[i])
  pairs_[#pairs_ + 1] = {ARGV[i + 1], ARGV[2]}
  while #pairs_ > keep do
    local low = 1
    for j = 2, #pairs_ do
      if tonumber(pairs_[j][1]) < tonumber(pairs_[low][1]) then low = j end
    end
    floor = raise(floor, pairs_[low][1])
    table.remove(pairs_, low)
  end
  write(ARGV[i], pairs_, floor)
end
return 1
"""
)

#: KEYS head, events, results. Returns {} or {head fields, results}; events come with RANGE.
LOAD = (
    "#!lua flags=no-writes\n"
    + _COMMON
    + r"""
local h = head(KEYS[1])
if not h then
  if redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then
    fail('KASAGI_CORRUPT', 'events or results are stored but the head key is missing')
  end
  return {}
end
expect(KEYS[2], 'stream')
local results = {}
if expect(KEYS[3], 'hash') then results = redis.call('HGETALL', KEYS[3]) end
return {redis.call('HGETALL', KEYS[1]), results}
"""
)

#: KEYS head, events; ARGV epoch, after, upto ('' = the head), count, mode. Returns {0} (the
#: room is not in that epoch, or the range is beyond the head) or, for up to ``count`` events
#: after..upto: mode ``joined`` {1, head seq, snap_seq, "id,id,..", "[event,event,..]"} (one
#: JSON array: parsed in one go), mode ``entries`` {1, head seq, snap_seq, XRANGE entries}
#: (to find a bad entry). Large reads are done in such chunks, so no reply is huge.
RANGE = (
    "#!lua flags=no-writes\n"
    + _COMMON
    + r"""
local h = head(KEYS[1])
if not h or h[2] ~= ARGV[1] then return {0} end
local top = ARGV[3] ~= '' and ARGV[3] or h[3]
if tonumber(ARGV[2]) > tonumber(h[3]) or tonumber(top) > tonumber(h[3]) then return {0} end
local entries = {}
if tonumber(ARGV[2]) < tonumber(top) and expect(KEYS[2], 'stream') then
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[2] .. '-0', top .. '-0', 'COUNT', ARGV[4])
end
if ARGV[5] ~= 'joined' then return {1, h[3], h[4], entries} end
local ids, events = {}, {}
for i, entry in ipairs(entries) do
  ids[i] = entry[1]
  local value = nil
  for j = 1, #entry[2], 2 do
    if entry[2][j] == 'e' then value = entry[2][j + 1] end
  end
  if not value then fail('KASAGI_CORRUPT', 'the stream entry ' .. entry[1] .. ' has no event') end
  events[i] = value
end
return {1, h[3], h[4], table.concat(ids, ','), '[' .. table.concat(events, ',') .. ']'}
"""
)

#: KEYS head, events; ARGV epoch, seq, snapshot, now_ms, history_events, history_ms, hard_cap,
#: history_bytes (0: no byte budget; an event's size is the length of its ``e`` field).
SNAPSHOT = (
    "#!lua\n"
    + _COMMON
    + r"""
local h = head(KEYS[1])
if not h or h[2] ~= ARGV[1] then fail('KASAGI_STALE', h and h[2] or 'missing') end
local has_events = expect(KEYS[2], 'stream')
local top, seq, snap = tonumber(h[3]), tonumber(ARGV[2]), tonumber(h[4])
if seq > top then fail('KASAGI_SEQ', h[3]) end
if seq > snap then
  redis.call('HSET', KEYS[1], 'snap_seq', ARGV[2], 'snap', ARGV[3])
  snap = seq
end
if not has_events then return 1 end
-- Trim the longest prefix of events outside the history window.
local bound = math.min(snap, top - tonumber(ARGV[5]))
local cutoff = tonumber(ARGV[4]) - tonumber(ARGV[6])
local capbound = top - tonumber(ARGV[7])
local last, start, done = nil, '-', false
while not done do
  local chunk = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 256)
  if #chunk == 0 then break end
  for _, entry in ipairs(chunk) do
    local s, t = seq_of(entry[1]), nil
    for i = 1, #entry[2], 2 do
      if entry[2][i] == 't' then t = tonumber(entry[2][i + 1]) end
    end
    if s > bound or not ((t and t < cutoff) or s <= capbound) then
      done = true
      break
    end
    last = string.match(entry[1], '^(%d+)')
  end
  if not done then start = '(' .. chunk[#chunk][1] end
end
-- And those past the byte budget: every event up to the newest whose suffix (it and all
-- after it) is over the budget -- but never one the snapshot does not cover.
local budget = tonumber(ARGV[8] or '0')
if budget > 0 then
  local kept, stop, over = 0, '+', nil
  while not over do
    local chunk = redis.call('XREVRANGE', KEYS[2], stop, '-', 'COUNT', 256)
    if #chunk == 0 then break end
    for _, entry in ipairs(chunk) do
      for i = 1, #entry[2], 2 do
        if entry[2][i] == 'e' then kept = kept + #entry[2][i + 1] end
      end
      if kept > budget then
        over = seq_of(entry[1])
        break
      end
    end
    if not over then stop = '(' .. chunk[#chunk][1] end
  end
  if over then
    local cut = math.min(over, snap)
    if cut > 0 and (not last or cut > tonumber(last)) then last = string.format('%d', cut) end
  end
end
if last then redis.call('XTRIM', KEYS[2], 'MINID', last .. '-1') end
return 1
"""
)

#: KEYS head, events, results; ARGV old epoch, new epoch, seq, snapshot.
SET_EPOCH = (
    "#!lua\n"
    + _COMMON
    + r"""
local h = head(KEYS[1])
if not h or h[2] ~= ARGV[1] then fail('KASAGI_STALE', h and h[2] or 'missing') end
local has_results = expect(KEYS[3], 'hash')
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'seq', ARGV[3], 'snap_seq', ARGV[3], 'snap', ARGV[4])
if has_results then
  local seq = tonumber(ARGV[3])
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do
    local kept = {}
    for pair in string.gmatch(all[i + 1], '%S+') do
      local s = tonumber(string.match(pair, ':(%d+)$'))
      if s and s <= seq then kept[#kept + 1] = pair end
    end
    if #kept == 0 then
      redis.call('HDEL', KEYS[3], all[i])
    else
      redis.call('HSET', KEYS[3], all[i], table.concat(kept, ' '))
    end
  end
end
return 1
"""
)
