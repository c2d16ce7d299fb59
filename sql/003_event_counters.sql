-- Seat counters kept by the event's actor in the same transaction as each booking change, so that
-- reading an event (and checking a booking request) never aggregates its bookings.
alter table events
    add column confirmed_seats integer not null default 0 check (confirmed_seats >= 0),
    add column waiting_count integer not null default 0 check (waiting_count >= 0),
    add constraint events_not_oversold check (confirmed_seats <= total_slots);

update events e set confirmed_seats = coalesce(b.confirmed, 0), waiting_count = coalesce(b.waiting, 0)
from (select event_id, sum(seats) filter (where status = 'confirmed') as confirmed,
             count(*) filter (where status = 'waiting') as waiting
      from bookings group by event_id) b
where b.event_id = e.id;
