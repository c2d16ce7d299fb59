-- Release duplicate-request locks (booking:{event}:{user}) after a write that did not commit.
-- KEYS: the lock keys, all of one event (one cluster slot)
return redis.call('DEL', unpack(KEYS))
