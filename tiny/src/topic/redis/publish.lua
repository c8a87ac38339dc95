-- Publishes one message to a topic, atomically: appends it to the topic's
-- stream (trimmed to about ARGV[1] entries and ARGV[2] ms), keeps the
-- stream's epoch beside it, and wakes the instances subscribed to the
-- topic's channel.
--
-- KEYS[1] the stream   tiny:{topic:<name>}:stream
-- KEYS[2] its epoch    tiny:{topic:<name>}:epoch
-- ARGV[1] history length   ARGV[2] history age (ms)
-- ARGV[3] the epoch to start if the stream is new (16 hex digits)
-- ARGV[4] "1" when the message has an event name, else "0"
-- ARGV[5] the name   ARGV[6] the data   ARGV[7] the wake-up channel
-- Returns {epoch, id}.

local epoch = redis.call('GET', KEYS[2])
-- A stream that is gone (trimmed away, expired, deleted) starts a new
-- epoch: cursors into the old one are recognised as such.
if not epoch or redis.call('EXISTS', KEYS[1]) == 0 then
  epoch = ARGV[3]
end
local id
if ARGV[4] == '1' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'n', ARGV[5], 'd', ARGV[6])
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[6])
end
local now = redis.call('TIME')
local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2])
if oldest > 0 then
  redis.call('XTRIM', KEYS[1], 'MINID', '~', oldest)
end
-- Both go together when nobody publishes for the history's age.
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], epoch, 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[7], id)
return {epoch, id}
