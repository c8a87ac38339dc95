-- Reads a topic's stream for one instance's local copy.
--
-- KEYS[1] the stream   KEYS[2] its epoch
-- ARGV[1] "tail": the newest ARGV[2] entries (oldest first), or
--         "after": up to ARGV[2] entries after the id ARGV[3]
-- Returns {epoch or false, the id of the newest entry trimmed or deleted
-- ("0-0" if none), entries as {id, {field, value, …}}}.

local epoch = redis.call('GET', KEYS[2])
if not epoch or redis.call('EXISTS', KEYS[1]) == 0 then
  return {false, '0-0', {}}
end
local deleted = '0-0'
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'max-deleted-entry-id' then
    deleted = info[i + 1]
  end
end
local entries
if ARGV[1] == 'tail' then
  entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])
  local n = #entries
  for i = 1, math.floor(n / 2) do
    entries[i], entries[n - i + 1] = entries[n - i + 1], entries[i]
  end
else
  entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[3], '+', 'COUNT', ARGV[2])
end
return {epoch, deleted, entries}
