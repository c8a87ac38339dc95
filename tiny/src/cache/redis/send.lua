-- send (stands alone: the most frequent script; a hand-off is six
-- commands). Run after one generated line that sets HORIZON (how long an
-- identity is remembered, ms), TTL (queue TTL, ms), MAX_LEN, MAX_BYTES and
-- DONE (the message that ends a stream: no hand-off follows it), so a call
-- carries only what changes. Numbers go to Redis as strings: Redis 7.0
-- formats a Lua number with printf, dearer than most commands here.
-- KEYS: the key's ready list, this message's identity, the ready list's
-- byte count, the parked list (member "<lineage>:<connection>" of each
-- connection that found nothing to take, in turn), the credit hash
-- (member → how many more messages a send may hand it), meta hash. The
-- pending zsets and the wake channel are named after the ready list
-- (`<base>ready` → `<base>pending:<lineage>`, `<base>wake`: one hash tag).
-- ARGV: message, the sending process's time in ms (for aging, minutes
-- later).
-- Returns 1 queued, 3 handed to a parked consumer, 2 done by an earlier
-- attempt with this identity (its answer was lost), -1 full by length, -2
-- full by bytes (not queued: the identity is forgotten, so a later retry
-- may succeed). Nothing queued is ever dropped to make room. Unread
-- messages and their byte count live a TTL after the last send; the
-- consumers' state (meta and the rest) a TTL after the last consumer's
-- activity.
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', HORIZON) then
  return 2
end
local base = string.sub(KEYS[1], 1, -6)
-- A parked consumer is handed the message at once, as a take would: it
-- becomes pending for that consumer's lineage, and the wake-up carries it,
-- so the consumer needs no take of its own. The parked connections of a
-- key take turns (the list rotates). FIFO holds without a look at the
-- ready list: a connection is parked only by a take that left it empty,
-- and whatever fills it again (a send below, a reclaim) first empties the
-- parked list. Every member is a connection still current for its
-- lineage: whatever ends one (a newer connection, a release, a reclaim, a
-- new history) removes it.
local member = redis.call('LMOVE', KEYS[4], KEYS[4], 'LEFT', 'RIGHT')
if member then
  local left = redis.call('HINCRBY', KEYS[5], member, '-1')
  if left >= 0 then
    local seq = redis.call('HINCRBY', KEYS[6], 'seq', '1')
    -- A first number is checked: with no history open (no epoch), the
    -- member outlived its key's consumer state.
    if seq > 1 or redis.call('HEXISTS', KEYS[6], 'epoch') == 1 then
      if left == 0 or ARGV[1] == DONE then
        redis.call('LREM', KEYS[4], '0', member)
        redis.call('HDEL', KEYS[5], member)
      end
      seq = string.format('%d', seq)
      local colon = string.find(member, ':', 1, true)
      redis.call('ZADD', base .. 'pending:' .. string.sub(member, 1, colon - 1), seq,
        seq .. ':' .. ARGV[2] .. ':' .. ARGV[1])
      redis.call('PUBLISH', base .. 'wake', 'h' .. string.sub(member, colon + 1) .. seq .. ':' .. ARGV[1])
      return 3
    end
    redis.call('DEL', KEYS[6])
  end
  -- The parked state is stale (its credit or its history is gone): it
  -- goes, and the message is queued.
  redis.call('DEL', KEYS[4], KEYS[5])
end
local ready = redis.call('LLEN', KEYS[1])
if ready >= MAX_LEN then
  redis.call('DEL', KEYS[2])
  return -1
end
-- An empty list holds no bytes, whatever a stale count says.
local bytes = 0
if ready > 0 then
  bytes = tonumber(redis.call('GET', KEYS[3]) or '0')
end
bytes = bytes + string.len(ARGV[1])
if bytes > MAX_BYTES then
  redis.call('DEL', KEYS[2])
  return -2
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], string.format('%d', bytes), 'PX', TTL)
redis.call('PEXPIRE', KEYS[1], TTL)
redis.call('PUBLISH', base .. 'wake', 'w')
return 1
