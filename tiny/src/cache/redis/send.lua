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
-- The byte count exists, exact, only while the list holds two messages or
-- more (a lone message is its own count): a send to a key whose consumers
-- keep up, and its take, keep none. Four commands then.
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
  return 2
end
local size = string.len(ARGV[1])
local ready = redis.call('RPUSH', KEYS[1], ARGV[1])
local bytes, refused = size, nil
if ready > tonumber(ARGV[4]) then
  refused = -1
else
  if ready == 2 then
    bytes = bytes + string.len(redis.call('LINDEX', KEYS[1], 0))
  elseif ready > 2 then
    bytes = bytes + tonumber(redis.call('GET', KEYS[3]) or '0')
  end
  if bytes > tonumber(ARGV[7]) then
    refused = -2
  end
end
if refused then
  -- Only this message goes: it is the list's tail.
  redis.call('RPOP', KEYS[1])
  redis.call('DEL', KEYS[2])
  return refused
end
if ready >= 2 then
  redis.call('SET', KEYS[3], bytes, 'PX', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
