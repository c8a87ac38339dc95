-- take, the most frequent consumer script: no helper functions, four
-- commands when a message is there. KEYS: the key's meta hash, ready list,
-- lineage hash, the lineage's pending zset (its expiry is kept by open and
-- renew), the ready list's byte count. ARGV: lineage, connection token,
-- after, '1' to look for pending
-- entries after `after` first (after a reconnect or a lost answer), the
-- taking process's time in ms (for aging, minutes later).
-- Returns {status, seq, message, more}: status -1 when the connection is
-- not its lineage's current one, 0 nothing to take, 1 a new message, 2 a
-- pending one (more: 1 when another take would find one at once).
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then
  return { -1, 0, '', 0 }
end
if ARGV[4] == '1' then
  local found = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[3], '+inf', 'LIMIT', 0, 2)
  if #found > 0 then
    local entry = found[1]
    local a = string.find(entry, ':', 1, true)
    local b = string.find(entry, ':', a + 1, true)
    local more = (#found > 1 or redis.call('LLEN', KEYS[2]) > 0) and 1 or 0
    return { 2, tonumber(string.sub(entry, 1, a - 1)), string.sub(entry, b + 1), more }
  end
end
-- Two at most: whether a second is there is the `more` answer; it goes
-- back to the head at once.
local popped = redis.call('LPOP', KEYS[2], 2)
if not popped then
  return { 0, 0, '', 0 }
end
if #popped > 1 then
  redis.call('LPUSH', KEYS[2], popped[2])
end
if redis.call('DECRBY', KEYS[5], string.len(popped[1])) <= 0 then
  redis.call('DEL', KEYS[5])
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[4], seq, seq .. ':' .. ARGV[5] .. ':' .. popped[1])
return { 1, seq, popped[1], #popped > 1 and 1 or 0 }
