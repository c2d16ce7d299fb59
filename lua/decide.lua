-- Decide a batch of booking commands of one event, in arrival order, in one atomic call.
-- KEYS: slots, waitlist, meta, holders, then one duplicate lock (booking:{event}:{user}) per command
-- ARGV: lock ttl seconds, the caller's epoch, then per command: op ('B' book | 'C' cancel), booking id,
-- user id, seats
-- Returns one result per command (see book and cancel), or {{'REBUILD'}} when the keys are not intact,
-- {{'FENCED'}} when a newer owner of the event's shard wrote them.
local k = event_keys()
local state = check(k, tonumber(ARGV[2]))
if state ~= 'OK' then return {{state}} end
local lock_ttl = ARGV[1]
local results = {}
local n = (#ARGV - 2) / 4
for i = 1, n do
  local a = 3 + (i - 1) * 4
  local op, booking_id, user_id, seats = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  if op == 'B' then
    results[i] = book(k, KEYS[4 + i], booking_id, user_id, seats, lock_ttl)
  else
    results[i] = cancel(k, KEYS[4 + i], booking_id, user_id, seats)
  end
end
return results
