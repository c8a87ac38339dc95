-- release: KEYS[4] the lineage's pending zset. ARGV[4..] lineage,
-- connection token, '1' when the connection ended after writing [DONE].
-- An older connection's release changes nothing; a lineage with nothing
-- pending is forgotten (its signed id is still recognised when it returns).
local lineage = ARGV[4]
if redis.call('HGET', lineages, lineage) ~= ARGV[5] then
  return 0
end
unpark(lineage, ARGV[5])
local now = clock()
age(own, now)
if redis.call('ZCARD', own) <= 1 then
  redis.call('DEL', own)
  redis.call('HDEL', lineages, lineage)
  redis.call('ZREM', seen, lineage)
  return 1
end
redis.call('HSET', lineages, lineage, ARGV[6] == '1' and 'done' or '')
redis.call('ZADD', seen, now, lineage)
keep(own)
return 1
