-- Happening schema: PostgreSQL is the source of truth; Redis only caches seats and waitlists.
create extension if not exists pgcrypto;

create or replace function set_updated_at() returns trigger language plpgsql as $$
begin
    -- an explicit updated_at (the engine stamps a batch with one time) is kept
    if new.updated_at is not distinct from old.updated_at then
        new.updated_at := now();
    end if;
    return new;
end $$;

create table users (
    id           uuid primary key default gen_random_uuid(),
    keycloak_id  text not null unique,
    email        text not null,
    full_name    text not null default '',
    phone        text,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    check (email <> '')
);
create index users_email_idx on users (lower(email));

create table organizations (
    id          uuid primary key default gen_random_uuid(),
    name        text not null check (length(name) between 1 and 200),
    created_by  uuid references users (id),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

create table organization_users (
    org_id      uuid not null references organizations (id) on delete cascade,
    user_id     uuid not null references users (id) on delete cascade,
    role        text not null check (role in ('orgAdmin', 'organizer', 'user')),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (org_id, user_id)
);
create index organization_users_user_idx on organization_users (user_id);

create table events (
    id                     uuid primary key default gen_random_uuid(),
    org_id                 uuid not null references organizations (id) on delete cascade,
    name                   text not null check (length(name) between 1 and 200),
    description            text not null default '',
    category               text not null check (category in ('concert', 'webinar', 'hackathon')),
    status                 text not null default 'draft'
                           check (status in ('draft', 'upcoming', 'ongoing', 'completed', 'cancelled')),
    visibility             text not null default 'public' check (visibility in ('public', 'members')),
    starts_at              timestamptz not null,
    ends_at                timestamptz not null,
    total_slots            integer not null check (total_slots > 0),
    max_seats_per_booking  integer not null default 10 check (max_seats_per_booking > 0),
    -- per-event waiting-number sequence: the last number handed out
    last_waiting_number    bigint not null default 0 check (last_waiting_number >= 0),
    created_by             uuid references users (id),
    published_at           timestamptz,
    cancelled_at           timestamptz,
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now(),
    check (ends_at > starts_at),
    check ((status = 'draft') = (published_at is null) or status = 'cancelled'),
    check ((status = 'cancelled') = (cancelled_at is not null))
);
-- GET /v1/events: published events by start time (cursor = starts_at, id)
create index events_listing_idx on events (starts_at, id)
    where status in ('upcoming', 'ongoing', 'completed');
create index events_org_idx on events (org_id, starts_at, id);
-- lifecycle: events due to move on
create index events_due_idx on events (starts_at) where status in ('upcoming', 'ongoing');
create index events_ends_idx on events (ends_at) where status = 'ongoing';

create table bookings (
    id              uuid primary key default gen_random_uuid(),
    event_id        uuid not null references events (id) on delete cascade,
    user_id         uuid not null references users (id) on delete cascade,
    seats           integer not null check (seats > 0),
    status          text not null check (status in ('confirmed', 'waiting', 'cancelled')),
    waiting_number  bigint check (waiting_number > 0),
    confirmed_at    timestamptz,
    cancelled_at    timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    check ((status = 'waiting') = (waiting_number is not null)),
    check ((status = 'confirmed') = (confirmed_at is not null and cancelled_at is null)),
    check ((status = 'cancelled') = (cancelled_at is not null))
);
-- one active booking per user per event
create unique index bookings_one_active_idx on bookings (event_id, user_id)
    where status in ('confirmed', 'waiting');
create unique index bookings_waiting_number_idx on bookings (event_id, waiting_number)
    where waiting_number is not null;
create index bookings_user_idx on bookings (user_id, created_at desc, id desc);
create index bookings_event_idx on bookings (event_id, status, created_at, id);

create table booking_history (
    id          bigint generated always as identity primary key,
    booking_id  uuid not null references bookings (id) on delete cascade,
    action      text not null check (action in ('created', 'cancelled', 'promoted', 'event_cancelled')),
    details     jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now()
);
create index booking_history_booking_idx on booking_history (booking_id, id);

create table notifications (
    id            uuid primary key default gen_random_uuid(),
    -- Only the recipient is a foreign key: the outbox is written in bulk on the booking hot path,
    -- and org/event/booking ids are references for reading, each checked by the writer.
    user_id       uuid references users (id) on delete cascade,
    org_id        uuid,
    event_id      uuid,
    booking_id    uuid,
    type          text not null check (type in ('booking_confirmed', 'booking_waitlisted',
                      'booking_cancelled', 'waitlist_promoted', 'event_updated', 'org_invite')),
    channel       text not null default 'email' check (channel in ('email', 'sms', 'push', 'log')),
    recipient     text not null,
    status        text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    message       text not null,
    payload       jsonb not null default '{}'::jsonb,
    attempts      integer not null default 0 check (attempts >= 0),
    last_error    text,
    dispatched_at timestamptz,  -- outbox: set once RabbitMQ confirmed the job
    sent_at       timestamptz,
    -- outbox order: insertion order, also within one transaction (created_at is per transaction)
    seq           bigint generated always as identity,
    -- worker: a delivery attempt holds the row until then, so a duplicate job never sends twice
    claimed_until timestamptz,
    delivered_via text check (delivered_via in ('email', 'sms', 'push', 'log')),  -- set when sent
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    check ((status = 'sent') = (sent_at is not null))
);
create index notifications_user_idx on notifications (user_id, created_at desc, id desc);
-- the outbox relay's queue: undispatched rows in insertion order, and per user (order per user)
create index notifications_outbox_idx on notifications (seq) where dispatched_at is null;
create index notifications_outbox_user_idx on notifications (user_id, seq) where dispatched_at is null;

create table org_invites (
    id           uuid primary key default gen_random_uuid(),
    org_id       uuid not null references organizations (id) on delete cascade,
    email        text not null check (email <> ''),
    role         text not null check (role in ('organizer', 'user')),
    token_hash   bytea not null unique,
    status       text not null default 'pending' check (status in ('pending', 'accepted', 'revoked', 'expired')),
    expires_at   timestamptz not null,
    created_by   uuid references users (id),
    accepted_by  uuid references users (id),
    accepted_at  timestamptz,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    check ((status = 'accepted') = (accepted_by is not null and accepted_at is not null))
);
create index org_invites_org_idx on org_invites (org_id, created_at desc, id desc);

create table idempotency_keys (
    user_id       uuid not null references users (id) on delete cascade,
    key           text not null check (length(key) between 1 and 255),
    request_hash  text not null,
    status_code   integer,           -- null while the first request is still in flight
    response      jsonb,
    created_at    timestamptz not null default now(),
    primary key (user_id, key),
    check ((status_code is null) = (response is null))
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);

create table audit_log (
    id          bigint generated always as identity primary key,
    -- no foreign keys: the trail outlives what it records, and it is written on the hot path
    org_id      uuid,
    actor_id    uuid,
    entity      text not null check (entity in ('organization', 'membership', 'invite', 'event', 'booking', 'notification')),
    entity_id   uuid,
    action      text not null,
    before      jsonb,
    after       jsonb,
    created_at  timestamptz not null default now()
);
create index audit_log_org_idx on audit_log (org_id, id desc);

create trigger users_updated_at before update on users for each row execute function set_updated_at();
create trigger organizations_updated_at before update on organizations for each row execute function set_updated_at();
create trigger organization_users_updated_at before update on organization_users for each row execute function set_updated_at();
create trigger events_updated_at before update on events for each row execute function set_updated_at();
create trigger bookings_updated_at before update on bookings for each row execute function set_updated_at();
create trigger notifications_updated_at before update on notifications for each row execute function set_updated_at();
create trigger org_invites_updated_at before update on org_invites for each row execute function set_updated_at();

-- outbox: wake the relay (LISTEN happening_outbox, constants.OUTBOX_CHANNEL) when notifications commit
create or replace function notify_outbox() returns trigger language plpgsql as $$
begin
    perform pg_notify('happening_outbox', '');
    return null;
end $$;
create trigger notifications_outbox_notify after insert on notifications
    for each statement execute function notify_outbox();
