-- take, the most frequent consumer script: no helper functions, five
-- commands when messages are there, however many; numbers go to Redis as
-- strings (see send.lua). KEYS: the key's meta
-- hash, ready list, lineage hash, the lineage's pending zset (its expiry is
-- kept by open and renew), the ready list's byte count, the parked list
-- and the credit hash (see send.lua). ARGV: lineage,
-- connection token, after, '1' to look for pending entries after `after`
-- first (after a reconnect or a lost answer), the taking process's time in
-- ms (for aging, minutes later), the most messages to take, the bytes past
-- which no further one is added, the message that ends a stream (nothing
-- after it is taken with it), and how many messages sends may hand the
-- connection directly once nothing more is there (0: none).
-- Returns {status, more, {seq, message, ...}}: status -1 when the
-- connection is not its lineage's current one, 0 nothing to take, 1 new
-- messages, 2 pending ones (more: 1 when another take would find one at
-- once; when 0 the connection is parked with that many hand-offs).
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then
  return { -1, 0, {} }
end
local max, max_bytes, last = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local out, n, bytes = {}, 0, 0
-- Never parked after the end of a stream: nothing sent after `[DONE]` may
-- be handed to a connection that will not write it.
local function park(status, more)
  if more == 0 and ARGV[9] ~= '0' and out[#out] ~= last then
    local member = ARGV[1] .. ':' .. ARGV[2]
    if redis.call('HSET', KEYS[7], member, ARGV[9]) == 1 then
      redis.call('RPUSH', KEYS[6], member)
    end
    redis.call('PEXPIRE', KEYS[6], '60000')
    redis.call('PEXPIRE', KEYS[7], '60000')
  end
  return { status, more, out }
end
if ARGV[4] == '1' then
  local found = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[3], '+inf', 'LIMIT', '0', string.format('%d', max + 1))
  if #found > 0 then
    for i = 1, math.min(#found, max) do
      local entry = found[i]
      local a = string.find(entry, ':', 1, true)
      local b = string.find(entry, ':', a + 1, true)
      local message = string.sub(entry, b + 1)
      out[#out + 1] = tonumber(string.sub(entry, 1, a - 1))
      out[#out + 1] = message
      n = i
      bytes = bytes + string.len(message)
      if message == last or bytes >= max_bytes then break end
    end
    local more = (#found > n or redis.call('LLEN', KEYS[2]) > 0) and 1 or 0
    return park(2, more)
  end
end
local popped = redis.call('LPOP', KEYS[2], ARGV[6])
if not popped then
  return park(0, 0)
end
for i = 1, #popped do
  n = i
  bytes = bytes + string.len(popped[i])
  if popped[i] == last or bytes >= max_bytes then break end
end
-- What the batch leaves goes back to the head, in order.
for i = #popped, n + 1, -1 do
  redis.call('LPUSH', KEYS[2], popped[i])
end
if redis.call('DECRBY', KEYS[5], string.format('%d', bytes)) <= 0 then
  redis.call('DEL', KEYS[5])
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', string.format('%d', n)) - n
local entries = {}
for i = 1, n do
  seq = seq + 1
  local number = string.format('%d', seq)
  entries[#entries + 1] = number
  entries[#entries + 1] = number .. ':' .. ARGV[5] .. ':' .. popped[i]
  out[#out + 1] = seq
  out[#out + 1] = popped[i]
end
redis.call('ZADD', KEYS[4], unpack(entries))
local more = (n < #popped or (#popped == max and redis.call('LLEN', KEYS[2]) > 0)) and 1 or 0
return park(1, more)
