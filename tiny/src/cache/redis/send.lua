-- send: ARGV[4..] new epoch, new secret, message, identity, identity
-- horizon ms, max ready length, wake channel, key.
-- Returns 1 queued, 2 queued by an earlier attempt with this identity
-- (its answer was lost), -1 full (not queued).
if redis.call('ZSCORE', sent, ARGV[7]) then
  return 2
end
history(ARGV[4], ARGV[5])
if redis.call('LLEN', ready) >= tonumber(ARGV[9]) then
  return -1
end
redis.call('RPUSH', ready, ARGV[6])
redis.call('ZREMRANGEBYSCORE', sent, '-inf', now - tonumber(ARGV[8]))
redis.call('ZADD', sent, now, ARGV[7])
keep(meta, ready, sent)
redis.call('PUBLISH', ARGV[10], ARGV[11])
return 1
