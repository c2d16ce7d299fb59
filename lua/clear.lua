-- Drop an event's keys (the event was cancelled: it takes no more bookings).
-- KEYS: slots, waitlist, meta, holders
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
