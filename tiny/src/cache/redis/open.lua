-- open: KEYS[4] the cursor lineage's pending zset (the new lineage's
-- without a cursor: the key is the one the lineage ends up with, since a
-- cursor that is not honoured names no key worth touching but its own). ARGV[4..] new epoch, new secret, new lineage,
-- connection token, then the cursor: epoch ('' for none), lineage, tag, seq.
-- Returns {epoch, lineage, tag, why the cursor was not honoured or ''}.
-- Running it twice (a lost answer) gives the same result.
local known = redis.call('HMGET', meta, 'epoch', 'secret')
local epoch, secret = known[1], known[2]
if not (epoch and secret) then
  epoch, secret = ARGV[4], ARGV[5]
  start_history(epoch, secret)
end
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
    redis.call('ZREMRANGEBYSCORE', own, 1, ARGV[11])
  end
end
-- The lineage's older connection, if it has one, takes nothing more: it is
-- no longer handed messages, and its process is told, so its stream ends.
local previous = redis.call('HGET', lineages, lineage)
if previous and previous ~= '' and previous ~= 'done' and previous ~= ARGV[7] then
  unpark(lineage, previous)
  redis.call('PUBLISH', string.sub(pending_prefix, 1, -9) .. 'wake', 'f' .. previous)
end
redis.call('HSET', lineages, lineage, ARGV[7])
redis.call('ZADD', seen, clock(), lineage)
redis.call('ZADD', own, 0, '0::')
keep(meta, lineages, seen, own)
return { epoch, lineage, tag(secret, lineage), lost }
