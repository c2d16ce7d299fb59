-- Cancel an active booking: leave the waitlist or free its seats, then promote the head.
-- KEYS: slots, waitlist, meta, holders, lock
-- ARGV: booking id, user id, seats
-- Returns {'confirmed'|'waiting', promoted entries...}, {'NOT_ACTIVE'} or {'REBUILD'}.
if redis.call('EXISTS', KEYS[3]) == 0 then return {'REBUILD'} end
if redis.call('HGET', KEYS[4], ARGV[2]) ~= ARGV[1] then return {'NOT_ACTIVE'} end
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[5])
local was = 'waiting'
if redis.call('LREM', KEYS[2], 1, ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3]) == 0 then
  redis.call('INCRBY', KEYS[1], ARGV[3])
  was = 'confirmed'
end
local result = promote(KEYS[1], KEYS[2])
table.insert(result, 1, was)
return result
