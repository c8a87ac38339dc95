-- send (stands alone: the most frequent script). KEYS: the key's ready
-- list, this message's identity, the ready list's byte count. ARGV:
-- message, queue TTL ms, identity lifetime ms, max ready length, wake
-- channel, key, max ready bytes.
-- Returns 1 queued, 2 queued by an earlier attempt with this identity (its
-- answer was lost), -1 full by length, -2 full by bytes (not queued: the
-- identity is forgotten, so a later retry may succeed). Nothing queued is
-- ever dropped to make room. Unread messages and their byte count live a
-- TTL after the last send; the consumers' state (meta and the rest) a TTL
-- after the last consumer's activity.
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
  return 2
end
local ready = redis.call('LLEN', KEYS[1])
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
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
