-- send (stands alone: the most frequent script). KEYS: the key's ready
-- list, this message's identity. ARGV: message, queue TTL ms, identity
-- lifetime ms, max ready length, wake channel, key.
-- Returns 1 queued, 2 queued by an earlier attempt with this identity (its
-- answer was lost), -1 full (not queued). Unread messages live a TTL after
-- the last send; the consumers' state (meta and the rest) a TTL after the
-- last consumer's activity.
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
  return 2
end
if redis.call('RPUSH', KEYS[1], ARGV[1]) > tonumber(ARGV[4]) then
  redis.call('RPOP', KEYS[1])
  redis.call('DEL', KEYS[2])
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
