-- Shared seat functions, prepended to decide.lua and capacity.lua when they are loaded.
-- Keys of one event: slots (available seats), waitlist (entries "<booking id>:<user id>:<seats>"),
-- meta (hash: total, seq = last waiting number, wl = waitlist length, hc = holders count, ep = the
-- epoch of the owner that wrote them),
-- holders (hash: user id -> active booking id).

local function event_keys()
  return {slots = KEYS[1], waitlist = KEYS[2], meta = KEYS[3], holders = KEYS[4]}
end

-- 'OK' when all four keys are there, agree with the counts kept in meta and were written by this
-- owner (meta's 'ep' = `epoch`, the caller's claim on the event's shard). 'FENCED' when a newer owner
-- wrote them: the caller no longer owns the event and must not touch them. 'REBUILD' for anything
-- else (Redis restarted, flushed, a key evicted or deleted, keys of an older owner, which may hold
-- decisions never committed): rebuild from PostgreSQL before deciding.
local function check(k, epoch)
  local meta = redis.call('HMGET', k.meta, 'wl', 'hc', 'ep')
  local ep = tonumber(meta[3] or '0')
  if ep > epoch then return 'FENCED' end
  if ep < epoch or not meta[1] or not meta[2] or redis.call('EXISTS', k.slots) == 0 then return 'REBUILD' end
  if tonumber(meta[1]) == redis.call('LLEN', k.waitlist) and tonumber(meta[2]) == redis.call('HLEN', k.holders)
  then return 'OK' end
  return 'REBUILD'
end

-- Promote the head of the waitlist while its seats fit; a head that does not fit blocks the rest.
-- Returns the promoted entries in order.
local function promote(k)
  local promoted = {}
  local available = tonumber(redis.call('GET', k.slots))
  while true do
    local head = redis.call('LINDEX', k.waitlist, 0)
    if not head then break end
    local seats = tonumber(string.match(head, ':(%d+)$'))
    if seats > available then break end
    redis.call('LPOP', k.waitlist)
    available = available - seats
    promoted[#promoted + 1] = head
  end
  redis.call('SET', k.slots, available)
  if #promoted > 0 then redis.call('HINCRBY', k.meta, 'wl', -#promoted) end
  return promoted
end

-- Book strictly first come, first served: confirmed only if nobody waits and the seats fit. A user
-- with an active booking (in holders) is a duplicate, however concurrent the two requests.
-- Returns {'CONFIRMED', available after}, {'WAITING', waiting number, position}
-- or {'DUPLICATE', existing booking id}.
local function book(k, lock_key, booking_id, user_id, seats, lock_ttl)
  local existing = redis.call('HGET', k.holders, user_id)
  if existing then return {'DUPLICATE', existing} end
  -- The lock is taken with the holder entry. A lock without one is left over from a decision that
  -- never committed (a crash, a failed write; the holders were rebuilt from PostgreSQL): take it over.
  redis.call('SET', lock_key, booking_id, 'EX', lock_ttl)
  local available = tonumber(redis.call('GET', k.slots))
  redis.call('HSET', k.holders, user_id, booking_id)
  redis.call('HINCRBY', k.meta, 'hc', 1)
  if redis.call('LLEN', k.waitlist) == 0 and seats <= available then
    redis.call('DECRBY', k.slots, seats)
    return {'CONFIRMED', available - seats}
  end
  local number = redis.call('HINCRBY', k.meta, 'seq', 1)
  local position = redis.call('RPUSH', k.waitlist, booking_id .. ':' .. user_id .. ':' .. seats)
  redis.call('HINCRBY', k.meta, 'wl', 1)
  return {'WAITING', number, position}
end

-- Cancel an active booking: leave the waitlist or free its seats, then promote the head.
-- Returns {'confirmed'|'waiting', promoted entries...} or {'NOT_ACTIVE'}.
local function cancel(k, lock_key, booking_id, user_id, seats)
  if redis.call('HGET', k.holders, user_id) ~= booking_id then return {'NOT_ACTIVE'} end
  redis.call('HDEL', k.holders, user_id)
  redis.call('HINCRBY', k.meta, 'hc', -1)
  redis.call('DEL', lock_key)
  local was = 'waiting'
  if redis.call('LREM', k.waitlist, 1, booking_id .. ':' .. user_id .. ':' .. seats) == 0 then
    redis.call('INCRBY', k.slots, seats)
    was = 'confirmed'
  else
    redis.call('HINCRBY', k.meta, 'wl', -1)
  end
  local result = promote(k)
  table.insert(result, 1, was)
  return result
end
