-- renew: a live connection's lease, a few times per retention window, and
-- the bookkeeping no take needs to do: aging its lineage's entries, the
-- bound on them, and reclaiming the entries of stale lineages.
-- ARGV[4..] lineage, connection token, most pending entries, wake channel,
-- key. Returns -1 when the connection is not its lineage's current one.
local lineage = ARGV[4]
if redis.call('HGET', lineages, lineage) ~= ARGV[5] then
  return -1
end
local now = clock()
redis.call('ZADD', seen, now, lineage)
age(own, now)
redis.call('ZREMRANGEBYRANK', own, 1, -tonumber(ARGV[6]) - 1)
local reclaimed = reclaim(now)
if reclaimed > 0 then
  redis.call('PUBLISH', ARGV[7], ARGV[8])
end
keep(meta, lineages, seen, own)
return reclaimed
