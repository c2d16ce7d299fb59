"""The API's list queries use indexes at scale: EXPLAIN on 100k rows of each big table, not a guess.

Each store function runs against a connection stand-in that EXPLAINs the exact SQL it sends with its
real parameters, and the plan must reach the big tables through an index (no sequential scan).
"""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from api.handlers.audit import SELECT as AUDIT_SELECT
from happening_engine import lifecycle, outbox
from happening_engine.store import bookings_read, events, notifications_read, reports
from loadtests.throwaway import create_database, drop_database

ROWS = 100_000
BIG_TABLES = {"events", "bookings", "notifications", "audit_log", "booking_history"}


@pytest.fixture(scope="module")
async def big() -> AsyncIterator[tuple[asyncpg.Connection, dict[str, Any]]]:
    name = f"happening_idx_{uuid.uuid4().hex[:8]}"
    url = await create_database(name)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"""
            insert into users (keycloak_id, email) select 'k' || i, 'u' || i || '@x.test'
                from generate_series(1, 20000) i;
            insert into organizations (name) select 'org ' || i from generate_series(1, 1000) i;
            insert into events (org_id, name, category, status, visibility, starts_at, ends_at, total_slots,
                                published_at)
                select o.id, 'e', 'concert', case when i % 10 = 0 then 'draft' else 'upcoming' end,
                       case when i % 3 = 0 then 'members' else 'public' end,
                       now() + (i || ' minutes')::interval, now() + (i || ' minutes')::interval + interval '1 hour',
                       100, case when i % 10 = 0 then null else now() end
                from generate_series(1, {ROWS}) i
                join (select id, row_number() over () as n from organizations) o on o.n = 1 + i % 1000;
            insert into organization_users (org_id, user_id, role)
                select o.id, u.id, 'user' from (select id from organizations limit 50) o
                cross join (select id from users limit 20) u;
            -- 100k bookings: 50 per event over the first 2,000 events (40 confirmed, 10 waiting)
            insert into bookings (event_id, user_id, seats, status, waiting_number, confirmed_at)
                select e.id, u.id, 1, case when j < 40 then 'confirmed' else 'waiting' end,
                       case when j < 40 then null else j - 39 end, case when j < 40 then now() end
                from (select id, row_number() over (order by starts_at) - 1 as k from events
                      where status = 'upcoming' limit 2000) e
                cross join generate_series(0, 49) j
                join (select id, row_number() over (order by id) - 1 as n from users) u
                  on u.n = (e.k * 50 + j) % 20000;
            insert into booking_history (booking_id, action) select id, 'created' from bookings;
            insert into notifications (user_id, type, recipient, message, dispatched_at, status, sent_at)
                select user_id, 'booking_confirmed', 'x@x.test', 'm', now(), 'sent', now() from bookings;
            insert into audit_log (org_id, actor_id, entity, entity_id, action)
                select e.org_id, b.user_id, 'booking', b.id, 'created'
                from bookings b join events e on e.id = b.event_id;
            analyze;
        """)
        sample = await conn.fetchrow("select b.event_id, b.user_id, b.id as booking_id, e.org_id from bookings b"
                                     " join events e on e.id = b.event_id where b.status = 'waiting' limit 1")
        yield conn, dict(sample)
    finally:
        await conn.close()
        await drop_database(name)


class Explainer:
    """Stands in for a connection: EXPLAINs each statement instead of running it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plans: list[dict[str, Any]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        raw = await self.conn.fetchval("explain (format json) " + sql, *args)
        self.plans.append(json.loads(raw)[0]["Plan"])
        return []

    async def fetchrow(self, sql: str, *args: Any) -> None:
        await self.fetch(sql, *args)
        return None


def seq_scans(plan: dict[str, Any]) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" and \
        plan.get("Relation Name") in BIG_TABLES else []
    for child in plan.get("Plans", []):
        found += seq_scans(child)
    return found


async def test_list_queries_use_indexes_on_100k_rows(big) -> None:
    conn, s = big
    explain = Explainer(conn)
    now = datetime.now(UTC)
    queries = {
        "GET /v1/events": lambda: events.list_visible(explain, s["user_id"], category=None, starts_from=None,  # type: ignore[arg-type]
                                                      starts_to=None, org_id=None, after=None, limit=50),
        "GET /v1/events?category&from&to": lambda: events.list_visible(
            explain, s["user_id"], category="concert", starts_from=now, starts_to=now + timedelta(days=1),  # type: ignore[arg-type]
            org_id=None, after=(now, s["event_id"]), limit=50),
        "GET /v1/organizations/{org}/events": lambda: events.list_for_org(explain, s["org_id"], include_drafts=True,  # type: ignore[arg-type]
                                                                          after=None, limit=50),
        "GET /v1/events/{event}": lambda: events.get(explain, s["event_id"]),  # type: ignore[arg-type]
        "GET /v1/bookings": lambda: bookings_read.list_for_user(explain, s["user_id"], None, 50),  # type: ignore[arg-type]
        "GET /v1/bookings/{id}": lambda: bookings_read.get(explain, s["booking_id"]),  # type: ignore[arg-type]
        "GET …/events/{event}/bookings?status": lambda: bookings_read.list_for_event(
            explain, s["event_id"], "confirmed", None, 50),  # type: ignore[arg-type]
        "GET …/events/{event}/waitlist": lambda: bookings_read.waitlist(explain, s["event_id"], None, 50),  # type: ignore[arg-type]
        "GET /v1/bookings/{id}/history": lambda: bookings_read.history(explain, s["booking_id"], None, 50),  # type: ignore[arg-type]
        "GET /v1/notifications": lambda: notifications_read.list_for_user(explain, s["user_id"], None, 50),  # type: ignore[arg-type]
        "GET …/events/{event}/stats": lambda: reports.stats(explain, s["event_id"]),  # type: ignore[arg-type]
        "GET …/audit-log?entity": lambda: explain.fetch(AUDIT_SELECT, s["org_id"], "booking", None, None, None,
                                                        None, 51),
        "outbox relay": lambda: explain.fetch(outbox.CLAIM_BATCH.replace("for update skip locked", ""), 500),
        "lifecycle clock": lambda: explain.fetch(lifecycle.DUE_EVENTS),
    }
    scans = {}
    for name, run in queries.items():
        explain.plans.clear()
        await run()
        assert explain.plans, name
        found = [t for plan in explain.plans for t in seq_scans(plan)]
        if found:
            scans[name] = found
    assert scans == {}
