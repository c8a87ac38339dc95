-- Shared by the infrequent consumer scripts (open, renew, release); send
-- and take, the frequent ones, stand alone and make as few calls (and as
-- little Lua garbage) as they can. Each script runs atomically: a
-- multi-step change is never seen half done.
--
-- KEYS: the key's meta hash (epoch, secret, seq), ready list, lineage hash
-- (lineage -> current connection token; '' once it ended, 'done' once it
-- ended after writing [DONE]), the calling lineage's pending zset (score:
-- seq; member: "<seq>:<ms handed out>:<message>"; plus the member "0::" at
-- score 0 from its open on, which carries the key's expiry so no take has
-- to set it), seen zset (lineage -> ms last seen), gone zset (lineage -> ms
-- its pending entries were given away), the ready list's byte count.
-- ARGV[1..3]: the prefix of pending zsets (reclaim names other lineages'
-- ones: same hash tag, same slot), the queue TTL and the retention window
-- in ms. Leases and staleness use the server's time, so the clocks of the
-- processes never matter; an entry's hand-out time, used only to age it
-- out after minutes, is the taking process's.
local meta, ready, lineages, own, seen, gone, bytes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local pending_prefix, ttl, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

-- The key's parked list and credit hash (see send.lua), beside the pending
-- zsets: `<base>pending:` → `<base>parked`, `<base>credit`.
local function parked()
  local base = string.sub(pending_prefix, 1, -9)
  return base .. 'parked', base .. 'credit'
end

-- No send hands `connection` of `lineage` anything more.
local function unpark(lineage, connection)
  local list, credit = parked()
  local member = lineage .. ':' .. connection
  redis.call('LREM', list, '0', member)
  redis.call('HDEL', credit, member)
end

local function clock()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- A new history, made by the first consumer (or the first after it
-- expired): nothing of an earlier one's consumers survives, parked ones
-- included. Messages sent meanwhile are kept: their list lives a TTL
-- after its last send.
local function start_history(epoch, secret)
  local list, credit = parked()
  redis.call('DEL', lineages, seen, gone, list, credit)
  redis.call('HSET', meta, 'epoch', epoch, 'secret', secret, 'seq', 0)
end

local function tag(secret, lineage)
  return string.sub(redis.sha1hex(secret .. ':' .. lineage), 1, 16)
end

local function keep(...)
  for _, key in ipairs({...}) do
    redis.call('PEXPIRE', key, ttl)
  end
end

-- seq, ms handed out, and where the message starts in a pending entry.
local function fields(entry)
  local a = string.find(entry, ':', 1, true)
  local b = string.find(entry, ':', a + 1, true)
  return tonumber(string.sub(entry, 1, a - 1)), tonumber(string.sub(entry, a + 1, b - 1)), b + 1
end

-- Entries a live lineage was handed a window ago count as delivered: its
-- connection would have been ended by the write timeout otherwise.
local function age(pending, now)
  for _ = 1, 100 do
    local first = redis.call('ZRANGEBYSCORE', pending, 1, '+inf', 'LIMIT', 0, 1)
    if #first == 0 then return end
    local _, at = fields(first[1])
    if at + window > now then return end
    redis.call('ZREM', pending, first[1])
  end
end

-- Lineages not seen for the window (their connection ended, or their
-- process died) give their pending entries back to the head of the ready
-- list, in order; those of a lineage that ended on [DONE] are dropped. A
-- lineage that had any is remembered in `gone`, so its return gets resync.
local function reclaim(now)
  local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', now - window, 'LIMIT', 0, 16)
  if #stale == 0 then return 0 end
  local back = {}
  for _, lineage in ipairs(stale) do
    local pending = pending_prefix .. lineage
    local entries = redis.call('ZRANGEBYSCORE', pending, 1, '+inf')
    if #entries > 0 then
      redis.call('ZADD', gone, now, lineage)
      if redis.call('HGET', lineages, lineage) ~= 'done' then
        for _, entry in ipairs(entries) do
          local seq, _, at = fields(entry)
          back[#back + 1] = { seq, string.sub(entry, at) }
        end
      end
    end
    redis.call('DEL', pending)
    -- A dead process's connection would stay parked otherwise.
    local connection = redis.call('HGET', lineages, lineage)
    if connection then
      unpark(lineage, connection)
    end
    redis.call('HDEL', lineages, lineage)
    redis.call('ZREM', seen, lineage)
  end
  table.sort(back, function(x, y) return x[1] < y[1] end)
  -- FIFO: no send may hand a message past the ones put back (send.lua), so
  -- the parked connections are woken to take them instead.
  if #back > 0 then
    redis.call('DEL', parked())
  end
  local back_bytes = 0
  for i = #back, 1, -1 do
    redis.call('LPUSH', ready, back[i][2])
    back_bytes = back_bytes + string.len(back[i][2])
  end
  if back_bytes > 0 then
    redis.call('INCRBY', bytes, back_bytes)
  end
  redis.call('ZREMRANGEBYSCORE', gone, '-inf', now - ttl)
  local excess = redis.call('ZCARD', gone) - 10000
  if excess > 0 then
    redis.call('ZREMRANGEBYRANK', gone, 0, excess - 1)
  end
  keep(gone, ready, bytes)
  return #back
end

