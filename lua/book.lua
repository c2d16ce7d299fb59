-- Book seats for a user, strictly first come, first served.
-- KEYS: slots, waitlist, meta, holders, lock (booking:{event}:{user})
-- ARGV: booking id, user id, seats, lock ttl seconds
-- Returns {'CONFIRMED', available after}, {'WAITING', waiting number, position},
--         {'DUPLICATE', existing booking id} or {'REBUILD'} when the keys are missing.
if redis.call('EXISTS', KEYS[3]) == 0 then return {'REBUILD'} end
local existing = redis.call('HGET', KEYS[4], ARGV[2])
if existing then return {'DUPLICATE', existing} end
if not redis.call('SET', KEYS[5], ARGV[1], 'NX', 'EX', ARGV[4]) then
  return {'DUPLICATE', redis.call('GET', KEYS[5])}
end
local seats = tonumber(ARGV[3])
local available = tonumber(redis.call('GET', KEYS[1]))
redis.call('HSET', KEYS[4], ARGV[2], ARGV[1])
if redis.call('LLEN', KEYS[2]) == 0 and seats <= available then
  redis.call('DECRBY', KEYS[1], seats)
  return {'CONFIRMED', available - seats}
end
local number = redis.call('HINCRBY', KEYS[3], 'seq', 1)
local position = redis.call('RPUSH', KEYS[2], ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3])
return {'WAITING', number, position}
