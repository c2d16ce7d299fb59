-- Replace an event's keys with the state PostgreSQL holds (the truth).
-- KEYS: slots, waitlist, meta, holders
-- ARGV: the caller's epoch, total, available, last waiting number, n waiting entries, entries..., then
-- user/booking pairs
-- Returns 'OK', or 'FENCED' (nothing written) when a newer owner of the event's shard wrote the keys.
if tonumber(redis.call('HGET', KEYS[3], 'ep') or '0') > tonumber(ARGV[1]) then return 'FENCED' end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[1], ARGV[3])
local n = tonumber(ARGV[5])
redis.call('HSET', KEYS[3], 'total', ARGV[2], 'seq', ARGV[4], 'wl', n, 'hc', (#ARGV - 5 - n) / 2, 'ep', ARGV[1])
local chunk = 1000  -- unpack() has a stack limit
for i = 6, 5 + n, chunk do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + chunk - 1, 5 + n)))
end
local first = 6 + n
for i = first, #ARGV, 2 * chunk do
  redis.call('HSET', KEYS[4], unpack(ARGV, i, math.min(i + 2 * chunk - 1, #ARGV)))
end
return 'OK'
