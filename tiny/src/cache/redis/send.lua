-- send (stands alone: the most frequent script). KEYS: the key's ready
-- list, this message's identity, the ready list's byte count, waiting
-- zset (member "<lineage>:<connection>" of a consumer that found nothing
-- to take, score: how many more messages a send may hand it), lineage
-- hash, meta hash. ARGV: message, queue TTL ms, identity lifetime ms, max
-- ready length, wake channel, key, max ready bytes, prefix of pending
-- zsets, the sending process's time in ms (for aging, minutes later), the
-- message that ends a stream (`[DONE]`: no hand-off follows it).
-- Returns 1 queued, 3 handed to a waiting consumer, 2 done by an earlier
-- attempt with this identity (its answer was lost), -1 full by length, -2
-- full by bytes (not queued: the identity is forgotten, so a later retry
-- may succeed). Nothing queued is ever dropped to make room. Unread
-- messages and their byte count live a TTL after the last send; the
-- consumers' state (meta and the rest) a TTL after the last consumer's
-- activity.
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
  return 2
end
local ready = redis.call('LLEN', KEYS[1])
-- A waiting consumer is handed the message at once, as a take would: it
-- becomes pending for that consumer's lineage, and the wake-up carries it,
-- so the consumer needs no take of its own. Only while nothing older is
-- ready (FIFO), and only to a connection still current for its lineage
-- (an older one's entry is dropped here); each park allows a few
-- hand-offs, so a consumer that stopped (a stalled client, a dead
-- process) holds at most that many.
if ready == 0 then
  for _ = 1, 4 do
    local top = redis.call('ZPOPMAX', KEYS[4])
    if #top == 0 then
      break
    end
    local member, credit = top[1], tonumber(top[2])
    local colon = string.find(member, ':', 1, true)
    local lineage, connection = string.sub(member, 1, colon - 1), string.sub(member, colon + 1)
    if redis.call('HGET', KEYS[5], lineage) == connection then
      if credit > 1 and ARGV[1] ~= ARGV[10] then
        redis.call('ZADD', KEYS[4], credit - 1, member)
      end
      local seq = redis.call('HINCRBY', KEYS[6], 'seq', 1)
      redis.call('ZADD', ARGV[8] .. lineage, seq, seq .. ':' .. ARGV[9] .. ':' .. ARGV[1])
      redis.call('PUBLISH', ARGV[5], 'h' .. connection .. seq .. ':' .. ARGV[1])
      return 3
    end
  end
end
if ready >= tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[2])
  return -1
end
-- An empty list holds no bytes, whatever a stale count says.
local bytes = 0
if ready > 0 then
  bytes = tonumber(redis.call('GET', KEYS[3]) or '0')
end
bytes = bytes + string.len(ARGV[1])
if bytes > tonumber(ARGV[7]) then
  redis.call('DEL', KEYS[2])
  return -2
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], bytes, 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[5], 'w')
return 1
