"""Every CHECK and unique index of the schema rejects the rows it exists to reject."""
from __future__ import annotations

import asyncpg
import pytest

from loadtests.fixtures import make_event, make_org, make_users

# (what is wrong, SQL using $1 user, $2 org, $3 event, $4 booking; expected error class)
CHECK = asyncpg.CheckViolationError
UNIQUE = asyncpg.UniqueViolationError
B = ("insert into bookings (event_id, user_id, seats, status, waiting_number, confirmed_at, cancelled_at)"
     " values ($3, $1, {})")
CASES = [
    ("user with empty email", "insert into users (keycloak_id, email) values ('kc-empty', '')", CHECK),
    ("two users with one keycloak id", "insert into users (keycloak_id, email)"
     " select keycloak_id, 'x@y.z' from users where id = $1", UNIQUE),
    ("organization with empty name", "insert into organizations (name) values ('')", CHECK),
    ("unknown role", "insert into organization_users (org_id, user_id, role) values ($2, $1, 'boss')", CHECK),
    ("unknown category", "update events set category = 'party' where id = $3", CHECK),
    ("unknown status", "update events set status = 'open' where id = $3", CHECK),
    ("unknown visibility", "update events set visibility = 'secret' where id = $3", CHECK),
    ("no slots", "update events set total_slots = 0 where id = $3", CHECK),
    ("no seats per booking", "update events set max_seats_per_booking = 0 where id = $3", CHECK),
    ("ends before it starts", "update events set ends_at = starts_at where id = $3", CHECK),
    ("published event without published_at", "update events set published_at = null where id = $3", CHECK),
    ("cancelled without cancelled_at", "update events set status = 'cancelled' where id = $3", CHECK),
    ("oversold counters", "update events set confirmed_seats = total_slots + 1 where id = $3", CHECK),
    ("negative waiting count", "update events set waiting_count = -1 where id = $3", CHECK),
    ("zero seats", B.format("0, 'confirmed', null, now(), null"), CHECK),
    ("unknown booking status", B.format("1, 'pending', null, null, null"), CHECK),
    ("waiting without a number", B.format("1, 'waiting', null, null, null"), CHECK),
    ("confirmed with a waiting number", B.format("1, 'confirmed', 7, now(), null"), CHECK),
    ("confirmed without confirmed_at", B.format("1, 'confirmed', null, null, null"), CHECK),
    ("cancelled without cancelled_at", B.format("1, 'cancelled', null, null, null"), CHECK),
    ("waiting number zero", B.format("1, 'waiting', 0, null, null"), CHECK),
    ("a second active booking", "insert into bookings (event_id, user_id, seats, status, waiting_number)"
     " values ($3, $1, 1, 'waiting', 99)", UNIQUE),
    ("a waiting number taken", "insert into bookings (event_id, user_id, seats, status, waiting_number)"
     " select $3, id, 1, 'waiting', 5 from users where id <> $1 limit 1", UNIQUE),
    ("unknown history action", "insert into booking_history (booking_id, action) values ($4, 'moved')", CHECK),
    ("unknown notification type", "insert into notifications (user_id, type, recipient, message)"
     " values ($1, 'spam', 'a@b.c', 'm')", CHECK),
    ("unknown channel", "insert into notifications (user_id, type, channel, recipient, message)"
     " values ($1, 'org_invite', 'fax', 'a@b.c', 'm')", CHECK),
    ("sent without sent_at", "insert into notifications (user_id, type, status, recipient, message)"
     " values ($1, 'org_invite', 'sent', 'a@b.c', 'm')", CHECK),
    ("negative attempts", "insert into notifications (user_id, type, recipient, message, attempts)"
     " values ($1, 'org_invite', 'a@b.c', 'm', -1)", CHECK),
    ("nobody to send to", "insert into notifications (type, message) values ('org_invite', 'm')", CHECK),
    ("invite as orgAdmin", "insert into org_invites (org_id, email, role, token_hash, expires_at)"
     " values ($2, 'a@b.c', 'orgAdmin', '\\x01', now())", CHECK),
    ("accepted invite without who", "insert into org_invites (org_id, email, role, token_hash, expires_at, status)"
     " values ($2, 'a@b.c', 'user', '\\x02', now(), 'accepted')", CHECK),
    ("idempotency response without status", "insert into idempotency_keys (user_id, key, request_hash, response)"
     " values ($1, 'k', 'h', '{}')", CHECK),
    ("unknown audit entity", "insert into audit_log (entity, action) values ('planet', 'x')", CHECK),
]


@pytest.fixture(scope="module")
async def rows(pool: asyncpg.Pool) -> tuple:
    users = await make_users(pool, 3)
    org = await make_org(pool, users[0])
    event = await make_event(pool, org, total=10)
    booking = await pool.fetchval(
        "insert into bookings (event_id, user_id, seats, status, waiting_number) values ($1, $2, 1, 'waiting', 5)"
        " returning id", event, users[0])
    return users[0], org, event, booking


@pytest.mark.parametrize(("wrong", "sql", "error"), CASES, ids=[c[0] for c in CASES])
async def test_schema_rejects(pool: asyncpg.Pool, rows: tuple, wrong: str, sql: str, error: type) -> None:
    params = [f"${i}" in sql for i in range(1, 5)]
    args = [value for value, used in zip(rows, params) if used]
    # renumber to the parameters this statement uses, so asyncpg gets exactly those
    for new, old in enumerate([i for i, used in enumerate(params, start=1) if used], start=1):
        sql = sql.replace(f"${old}", f"${new}")
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            with pytest.raises(error):
                await conn.execute(sql, *args)
        finally:
            await tx.rollback()


async def test_valid_rows_pass(pool: asyncpg.Pool, rows: tuple) -> None:
    """The same statements with right values succeed, so the rejections above are the checks at work."""
    user, _, event, booking = rows
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("update bookings set status = 'cancelled', waiting_number = null, cancelled_at = now()"
                               " where id = $1", booking)
            await conn.execute("insert into bookings (event_id, user_id, seats, status, confirmed_at)"
                               " values ($1, $2, 1, 'confirmed', now())", event, user)  # one active again: fine
            await conn.execute("insert into notifications (user_id, type, message)"
                               " values ($1, 'booking_confirmed', 'm')", user)  # the user's address at send time
        finally:
            await tx.rollback()
