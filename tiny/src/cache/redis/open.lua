-- open: ARGV[4..] new epoch, new secret, new lineage, connection token,
-- then the cursor: epoch ('' for none), lineage, tag, seq. KEYS[7] is the
-- cursor lineage's pending zset (the new lineage's without a cursor).
-- Returns {epoch, lineage, tag, why the cursor was not honoured or ''}.
-- Running it twice (a lost answer) gives the same result.
local epoch, secret = history(ARGV[4], ARGV[5])
local lineage, lost = ARGV[6], ''
if ARGV[8] ~= '' then
  if ARGV[8] ~= epoch then
    lost = 'epoch'
  elseif ARGV[10] ~= tag(secret, ARGV[9]) then
    lost = 'unknown'
  elseif redis.call('ZSCORE', gone, ARGV[9]) then
    lost = 'trimmed'
  else
    -- Confirms exactly what this lineage was handed up to the cursor.
    lineage = ARGV[9]
    redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', ARGV[11])
  end
end
redis.call('HSET', lineages, lineage, ARGV[7])
redis.call('ZADD', seen, now, lineage)
keep(meta, lineages, seen)
return { epoch, lineage, tag(secret, lineage), lost }
