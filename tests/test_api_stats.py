"""Event reports through HTTP: the counts, and the bookings CSV (streamed in pages)."""
from __future__ import annotations

import csv
import io
import uuid

from happening_engine.store import reports


async def _book(api_client, user, event_id: str, seats: int) -> dict:
    response = await api_client.post(f"/v1/events/{event_id}/bookings", headers=user.headers, json={"seats": seats})
    assert response.status == 201, await response.text()
    return await response.json()


async def _cancel(api_client, user, booking: dict) -> None:
    response = await api_client.post(f"/v1/bookings/{booking['id']}/cancel", headers=user.headers)
    assert response.status == 200, await response.text()


async def _scenario(api_client, make_user, make_event):
    """6 slots: a(3) and b(2) confirmed; c(2), d(1), e(3), f(1) wait; a cancels, so c and d are
    promoted while e (3 seats, 1 free) blocks; f leaves the waitlist."""
    admin = await make_user()
    users = {name: await make_user(f"{name}{uuid.uuid4().hex[:8]}@example.test") for name in "abcdef"}
    users["g"] = await make_user(f"=hyperlink(1)-{uuid.uuid4().hex[:6]}@example.test")  # not a booker here
    event = await make_event(admin, total_slots=6, max_seats_per_booking=3)
    bookings = {}
    for name, seats in zip("abcdef", (3, 2, 2, 1, 3, 1), strict=True):
        bookings[name] = await _book(api_client, users[name], event["id"], seats)
    assert [bookings[n]["status"] for n in "abcdef"] == ["confirmed"] * 2 + ["waiting"] * 4
    await _cancel(api_client, users["a"], bookings["a"])
    await _cancel(api_client, users["f"], bookings["f"])
    return admin, users, event, bookings


async def test_stats_match_a_scenario_with_every_kind_of_booking(api_client, make_user, make_event,
                                                                 join_org) -> None:
    admin, users, event, _ = await _scenario(api_client, make_user, make_event)
    expected = {"event_id": event["id"], "total_slots": 6, "confirmed_seats": 5, "confirmed_bookings": 3,
                "waiting_bookings": 1, "waiting_seats": 3, "cancelled_bookings": 2, "promotions": 2,
                "fill_rate": 0.8333}
    for path in (f"/v1/events/{event['id']}/stats", f"/v1/organizations/{admin.org_id}/events/{event['id']}/stats"):
        response = await api_client.get(path, headers=admin.headers)
        assert response.status == 200, await response.text()
        body = await response.json()
        assert {k: v for k, v in body.items() if not k.startswith("timeline")} == expected
    # a capacity raise promotes e: counted as well
    response = await api_client.patch(f"/v1/events/{event['id']}", headers=admin.headers, json={"total_slots": 8})
    assert response.status == 200
    stats = await (await api_client.get(f"/v1/events/{event['id']}/stats", headers=admin.headers)).json()
    assert (stats["confirmed_seats"], stats["waiting_bookings"], stats["promotions"], stats["fill_rate"]) == (
        8, 0, 3, 1.0)
    # an organizer of the org may read it; a booker who is no member may not even learn it exists
    organizer = await make_user()
    await join_org(admin, organizer, "organizer")
    assert (await api_client.get(f"/v1/events/{event['id']}/stats", headers=organizer.headers)).status == 200
    for outsider in (users["b"], users["g"]):
        response = await api_client.get(f"/v1/events/{event['id']}/stats", headers=outsider.headers)
        assert response.status == 404 and response.content_type == "application/problem+json"
    other_org = await make_user()
    response = await api_client.get(f"/v1/organizations/{other_org.org_id}/events/{event['id']}/stats",
                                    headers=other_org.headers)
    assert response.status == 404
    assert (await api_client.get(f"/v1/events/{event['id']}/stats?x=1", headers=admin.headers)).status == 422


async def test_empty_event_has_zero_counts(api_client, make_user, make_event) -> None:
    admin = await make_user()
    event = await make_event(admin, publish=False, total_slots=10)
    stats = await (await api_client.get(f"/v1/events/{event['id']}/stats", headers=admin.headers)).json()
    assert stats == {"event_id": event["id"], "total_slots": 10, "confirmed_seats": 0, "confirmed_bookings": 0,
                     "waiting_bookings": 0, "waiting_seats": 0, "cancelled_bookings": 0, "promotions": 0,
                     "fill_rate": 0.0, "timeline": [], "timeline_bucket_seconds": 60}


async def test_timeline_replays_the_history(api_client, make_user, make_event, pool) -> None:
    admin, _, event, bookings = await _scenario(api_client, make_user, make_event)
    stats = await (await api_client.get(f"/v1/events/{event['id']}/stats", headers=admin.headers)).json()
    # everything happened within a minute: one bucket, the final counts
    assert stats["timeline_bucket_seconds"] == 60
    assert [(p["confirmed_seats"], p["waiting_bookings"]) for p in stats["timeline"]] == [(5, 1)]
    # spread the history over 3 hours: a (3) and b (2) confirmed at 0 and 10 min; c, d, e, f waiting at
    # 20-50 min; at 3 h a cancels (c and d promoted) and f cancels
    ids = [uuid.UUID(bookings[n]["id"]) for n in "abcdef"]
    await pool.execute(
        "update booking_history h set created_at = now() - interval '3 hours'"
        " + (array_position($1::uuid[], h.booking_id) - 1) * interval '10 minutes'"
        " where h.booking_id = any($1::uuid[]) and h.action = 'created'", ids)
    stats = await (await api_client.get(f"/v1/events/{event['id']}/stats", headers=admin.headers)).json()
    assert stats["timeline_bucket_seconds"] == 180  # 3 h over at most 60 buckets of whole minutes
    points = [(p["confirmed_seats"], p["waiting_bookings"]) for p in stats["timeline"]]
    assert points == [(3, 0), (5, 0), (5, 1), (5, 2), (5, 3), (5, 4), (5, 1)]
    times = [p["at"] for p in stats["timeline"]]
    assert times == sorted(times) and len(stats["timeline"]) <= reports.MAX_POINTS


async def test_bookings_csv_streams_every_booking_in_pages(api_client, make_user, make_event, monkeypatch) -> None:
    admin, users, event, bookings = await _scenario(api_client, make_user, make_event)
    g = await _book(api_client, users["g"], event["id"], 1)  # a name a spreadsheet would run as a formula
    monkeypatch.setattr(reports, "PAGE_SIZE", 2)  # 7 bookings: 4 pages
    response = await api_client.get(f"/v1/organizations/{admin.org_id}/events/{event['id']}/bookings.csv",
                                    headers=admin.headers)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers.get("Transfer-Encoding") == "chunked"
    assert "attachment" in response.headers["Content-Disposition"]
    text = await response.text()
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "email", "full_name", "seats", "status", "waiting_number", "created_at", "updated_at"]
    by_id = {r[0]: r for r in rows[1:]}
    assert len(rows) == 8 and len(by_id) == 7
    names = {**{n: users[n] for n in "abcdef"}, "g": users["g"]}
    bookings = {**bookings, "g": g}
    expected_status = {"a": "cancelled", "b": "confirmed", "c": "confirmed", "d": "confirmed", "e": "waiting",
                       "f": "cancelled", "g": "waiting"}
    for name, booking in bookings.items():
        api = await (await api_client.get(f"/v1/bookings/{booking['id']}", headers=admin.headers)).json()
        line = by_id[booking["id"]]
        local = names[name].email.split("@")[0]
        if name == "g":  # neutralised, not dropped
            assert line[1] == "'" + names[name].email and line[2] == "'" + local
        else:
            assert line[1:3] == [names[name].email, local]
        assert line[3:] == [str(api["seats"]), expected_status[name],
                            str(api["waiting_number"]) if api["waiting_number"] is not None else "",
                            api["created_at"], api["updated_at"]], name
    assert [by_id[bookings[n]["id"]][5] for n in "eg"] == ["3", "5"]  # waiting numbers, in arrival order
    # oldest first: the arrival order of the bookings
    assert [r[0] for r in rows[1:]] == [bookings[n]["id"] for n in "abcdefg"]


async def test_bookings_csv_of_an_event_without_bookings_is_its_header(api_client, make_user, make_event) -> None:
    admin = await make_user()
    event = await make_event(admin)
    response = await api_client.get(f"/v1/events/{event['id']}/bookings.csv", headers=admin.headers)
    assert response.status == 200
    assert await response.text() == "id,email,full_name,seats,status,waiting_number,created_at,updated_at\r\n"


async def test_a_failure_half_way_truncates_the_csv(api_client, make_user, make_event, monkeypatch) -> None:
    import aiohttp

    admin, _, event, _ = await _scenario(api_client, make_user, make_event)
    real = reports.booking_pages

    async def failing(pool, event_id, page_size=None):
        async for page in real(pool, event_id, 2):
            yield page
            raise ConnectionRefusedError("postgres went away")

    monkeypatch.setattr(reports, "booking_pages", failing)
    response = await api_client.get(f"/v1/events/{event['id']}/bookings.csv", headers=admin.headers)
    assert response.status == 200  # sent before the failure
    try:
        text = await response.text()
    except aiohttp.ClientPayloadError:
        return  # the client sees the download broken
    raise AssertionError(f"a truncated export looked complete: {text!r}")
