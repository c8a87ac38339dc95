-- take: ARGV[4..] lineage, connection token, after, most pending entries,
-- wake channel, key. Returns {status, seq, message, more}: status -1 when
-- the connection is not its lineage's current one, 0 nothing to take, 1 a
-- message (more: 1 when another take would find one at once).
local lineage = ARGV[4]
if redis.call('HGET', lineages, lineage) ~= ARGV[5] then
  return { -1, 0, '', 0 }
end
redis.call('ZADD', seen, now, lineage)
local pending = KEYS[7]
age(pending)
-- First what this lineage was handed and this connection has not written
-- (after a lost answer, or replay after a reconnect).
local found = redis.call('ZRANGEBYSCORE', pending, '(' .. ARGV[6], '+inf', 'LIMIT', 0, 2)
if #found > 0 then
  local seq, _, at = fields(found[1])
  local more = (#found > 1 or redis.call('LLEN', ready) > 0) and 1 or 0
  keep(meta, lineages, seen, pending)
  return { 1, seq, string.sub(found[1], at), more }
end
if reclaim() > 0 then
  redis.call('PUBLISH', ARGV[8], ARGV[9])
end
keep(meta, lineages, seen)
local message = redis.call('LPOP', ready)
if not message then
  return { 0, 0, '', 0 }
end
local seq = redis.call('HINCRBY', meta, 'seq', 1)
if redis.call('ZCARD', pending) >= tonumber(ARGV[7]) then
  -- Handed out that many messages ago on a live connection: delivered.
  redis.call('ZREMRANGEBYRANK', pending, 0, 0)
end
redis.call('ZADD', pending, seq, seq .. ':' .. now .. ':' .. message)
keep(pending, ready)
return { 1, seq, message, redis.call('LLEN', ready) > 0 and 1 or 0 }
