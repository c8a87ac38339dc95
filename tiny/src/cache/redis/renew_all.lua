-- renew_all: the leases of every live key connection of one process, in
-- one call, so an idle stream costs Redis no command of its own. KEYS: the
-- prelude's seven per lease, in order. ARGV[1] '1' on the rounds that also
-- age and bound pending entries, ARGV[2..3] the queue TTL and retention
-- window (as the prelude's), ARGV[4] the most pending entries a live
-- lineage keeps, then four per lease: its key's pending-zset prefix,
-- lineage, connection token, wake channel.
-- Returns one number per lease: -1 when the connection is no longer its
-- lineage's current one (the stream must end), else how many stale
-- entries went back to its key's queue. Idle, a lease costs its fence
-- check and its `seen` mark, and a key its staleness check and a TTL look;
-- expiries are pushed back only once half the TTL has passed.
local now = clock()
local full = ARGV[1] == '1'
local max_pending = tonumber(ARGV[4])
local results = {}
local done_keys = {}
for i = 0, #KEYS / 7 - 1 do
  meta, ready, lineages, own, seen, gone, bytes =
    KEYS[i * 7 + 1], KEYS[i * 7 + 2], KEYS[i * 7 + 3], KEYS[i * 7 + 4],
    KEYS[i * 7 + 5], KEYS[i * 7 + 6], KEYS[i * 7 + 7]
  local a = 4 + i * 4
  pending_prefix = ARGV[a + 1]
  local lineage, connection, channel = ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  if redis.call('HGET', lineages, lineage) ~= connection then
    results[#results + 1] = -1
  else
    redis.call('ZADD', seen, now, lineage)
    if full then
      age(own, now)
      redis.call('ZREMRANGEBYRANK', own, 1, -max_pending - 1)
    end
    local reclaimed = 0
    if done_keys[meta] == nil then
      reclaimed = reclaim(now)
      if reclaimed > 0 then
        redis.call('PUBLISH', channel, 'w')
      end
      local refresh = redis.call('PTTL', meta) < ttl / 2
      if refresh then
        keep(meta, lineages, seen)
      end
      done_keys[meta] = refresh
    end
    if done_keys[meta] then
      keep(own)
    end
    results[#results + 1] = reclaimed
  end
end
return results
