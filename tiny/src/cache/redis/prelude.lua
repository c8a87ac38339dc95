-- Shared by every key-queue script (tiny/src/cache/redis.rs). Each script
-- runs atomically: a multi-step change is never seen half done.
--
-- KEYS: the key's meta hash (epoch, secret, seq), ready list, lineage hash
-- (lineage -> current connection token; '' once it ended, 'done' once it
-- ended after writing [DONE]), seen zset (lineage -> ms last seen), gone
-- zset (lineage -> ms its pending entries were given away), sent zset
-- (message identity -> ms queued), then the calling lineage's pending zset
-- (score: seq; member: "<seq>:<ms handed out>:<message>").
-- ARGV[1..3]: the prefix of pending zsets (reclaim names other lineages'
-- ones: same hash tag, same slot), the queue TTL and the retention window
-- in ms. Time is the server's, so the clocks of the processes never matter.
local meta, ready, lineages, seen, gone, sent = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local pending_prefix, ttl, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- The key's history: its epoch and the secret its lineage tags are signed
-- with, made when missing (first use, or first use after it expired).
local function history(epoch, secret)
  local known = redis.call('HMGET', meta, 'epoch', 'secret')
  if known[1] and known[2] then
    return known[1], known[2]
  end
  redis.call('DEL', ready, lineages, seen, gone, sent)
  redis.call('HSET', meta, 'epoch', epoch, 'secret', secret, 'seq', 0)
  return epoch, secret
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
local function age(pending)
  for _ = 1, 100 do
    local first = redis.call('ZRANGE', pending, 0, 0)
    if #first == 0 then return end
    local _, at = fields(first[1])
    if at + window > now then return end
    redis.call('ZREMRANGEBYRANK', pending, 0, 0)
  end
end

-- Lineages not seen for the window (their connection ended, or their
-- process died) give their pending entries back to the head of the ready
-- list, in order; those of a lineage that ended on [DONE] are dropped. A
-- lineage that had any is remembered in `gone`, so its return gets resync.
local function reclaim()
  local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', now - window, 'LIMIT', 0, 16)
  if #stale == 0 then return 0 end
  local back = {}
  for _, lineage in ipairs(stale) do
    local pending = pending_prefix .. lineage
    local entries = redis.call('ZRANGE', pending, 0, -1)
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
    redis.call('HDEL', lineages, lineage)
    redis.call('ZREM', seen, lineage)
  end
  table.sort(back, function(x, y) return x[1] < y[1] end)
  for i = #back, 1, -1 do
    redis.call('LPUSH', ready, back[i][2])
  end
  redis.call('ZREMRANGEBYSCORE', gone, '-inf', now - ttl)
  local excess = redis.call('ZCARD', gone) - 10000
  if excess > 0 then
    redis.call('ZREMRANGEBYRANK', gone, 0, excess - 1)
  end
  keep(gone)
  return #back
end

