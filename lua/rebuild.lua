-- Replace an event's keys with the state PostgreSQL holds (the truth).
-- KEYS: slots, waitlist, meta, holders
-- ARGV: total, available, last waiting number, n waiting entries, entries..., then user/booking pairs
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[1], ARGV[2])
local n = tonumber(ARGV[4])
redis.call('HSET', KEYS[3], 'total', ARGV[1], 'seq', ARGV[3], 'wl', n, 'hc', (#ARGV - 4 - n) / 2)
local chunk = 1000  -- unpack() has a stack limit
for i = 5, 4 + n, chunk do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + chunk - 1, 4 + n)))
end
local first = 5 + n
for i = first, #ARGV, 2 * chunk do
  redis.call('HSET', KEYS[4], unpack(ARGV, i, math.min(i + 2 * chunk - 1, #ARGV)))
end
return 'OK'
