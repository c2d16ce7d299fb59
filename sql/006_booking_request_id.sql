-- The request that made a booking (its Idempotency-Key, or an id the API made), committed in the same
-- statement as the booking: a command delivered twice (an engine killed after its commit, before its
-- ack) or retried on another API after a crash finds its own booking and gets it back, not a 409.
-- No index: it is only read by booking id, for the booking the duplicate check already named.
alter table bookings add column request_id text;
