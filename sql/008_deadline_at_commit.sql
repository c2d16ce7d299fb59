-- A batch's deadline is checked again when its transaction COMMITs, not only in its last statement
-- (HF002 in the counters' RETURNING): an engine paused or slowed between that statement and the
-- COMMIT it sends (a write committed behind its predecessor, or one that updates bookings first)
-- would otherwise commit after the API told its callers 503. The write's statement records the
-- deadline in a transaction-local setting (happening_deadline(), no extra round trip); the deferred
-- trigger on the events' counters, queued only when a deadline was set (never by `happening serve`,
-- whose commands carry none), refuses the COMMIT (HF002) once clock_timestamp() is past it.
create function happening_deadline(p_deadline timestamptz) returns boolean
language sql as $$
    select p_deadline is null or set_config('happening.deadline', p_deadline::text, true) is not null
$$;

create function happening_deadline_at_commit() returns trigger
language plpgsql as $$
declare
    deadline timestamptz := nullif(current_setting('happening.deadline', true), '')::timestamptz;
begin
    if deadline is not null and clock_timestamp() > deadline then
        raise exception 'the command deadline % passed before the write committed', deadline
            using errcode = 'HF002';
    end if;
    return null;
end $$;

create constraint trigger events_deadline_at_commit
    after update on events deferrable initially deferred
    for each row when (coalesce(current_setting('happening.deadline', true), '') <> '')
    execute function happening_deadline_at_commit();
