"""Locust scenarios against a running platform (`happening migrate && happening serve`).

    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8080 \\
        --csv loadtests/results/locust --only-summary

- `FlashSaleUser`: a stampede on one event of 500 slots; each iteration is a fresh shopper (a new
  token from the dev issuer, then one booking; the booking is also the sign-up request).
- `SteadyUser`: browses `GET /v1/events`, opens events, books one of many events, cancels bookings.
- `BurstShape`: steady users throughout, a burst of flash-sale users in the middle, then stop.
Setup goes through the real API at test start (a first user is orgAdmin of its own org; it creates
and publishes the events). The issuer is read from `GET /v1/auth/config`. Run it as one process
(not distributed): the event ids live in this module. Tunables (environment): LOADTEST_STEADY_USERS
(20), LOADTEST_FLASH_USERS (200), LOADTEST_FLASH_SLOTS (500), LOADTEST_MIX_EVENTS (1000),
LOADTEST_MIX_SLOTS (100), LOADTEST_STAGE_SECONDS (30).
"""
from __future__ import annotations

import os
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from locust import FastHttpUser, LoadTestShape, between, constant, events, task

STEADY_USERS = int(os.environ.get("LOADTEST_STEADY_USERS", "20"))
FLASH_USERS = int(os.environ.get("LOADTEST_FLASH_USERS", "200"))
FLASH_SLOTS = int(os.environ.get("LOADTEST_FLASH_SLOTS", "500"))
MIX_EVENTS = int(os.environ.get("LOADTEST_MIX_EVENTS", "1000"))
MIX_SLOTS = int(os.environ.get("LOADTEST_MIX_SLOTS", "100"))
EVENTS_PER_ORGANIZER = 40
STAGE_SECONDS = int(os.environ.get("LOADTEST_STAGE_SECONDS", "30"))


class Setup:
    """What the test-start hook created: the issuer's token URL and the event ids."""

    token_url = ""
    flash_event = ""
    mix_events: list[str] = []


def _token(post: Any, email: str) -> str:
    form = {"grant_type": "password", "client_id": "happening-api", "username": email, "password": "x"}
    response = post(Setup.token_url, data=form)
    response.raise_for_status()
    return str(response.json()["access_token"])


@events.test_start.add_listener  # type: ignore[untyped-decorator]  # locust's EventHook is not annotated
def create_events(environment: Any, **_: Any) -> None:
    """Organizers sign up (each orgAdmin of its own org), then create and publish the events,
    `EVENTS_PER_ORGANIZER` each: the per-user write limits are a person's, not a bulk import's."""
    host = environment.host.rstrip("/")
    issuer = requests.get(f"{host}/v1/auth/config", timeout=10).json()["issuer"]
    Setup.token_url = f"{issuer}/protocol/openid-connect/token"
    start = datetime.now(UTC) + timedelta(days=7)

    def organizer(_: int) -> tuple[dict[str, str], str]:
        token = _token(requests.post, f"organizer-{uuid.uuid4().hex[:8]}@load.test")
        headers = {"Authorization": f"Bearer {token}"}
        org = requests.get(f"{host}/v1/me", headers=headers, timeout=10).json()["memberships"][0]["org_id"]
        return headers, org

    def event(name: str, slots: int, by: tuple[dict[str, str], str]) -> str:
        headers, org = by
        body: dict[str, Any] = {"name": name, "category": "concert", "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=3)).isoformat(), "total_slots": slots}
        created = requests.post(f"{host}/v1/organizations/{org}/events", json=body, headers=headers, timeout=10)
        created.raise_for_status()
        event_id = str(created.json()["id"])
        requests.post(f"{host}/v1/events/{event_id}/publish", headers=headers, timeout=10).raise_for_status()
        return event_id

    # a thousand events one request at a time would hold the start for half a minute
    with ThreadPoolExecutor(max_workers=8) as pool:
        organizers = list(pool.map(organizer, range(MIX_EVENTS // EVENTS_PER_ORGANIZER + 1)))
        Setup.flash_event = event("Flash sale", FLASH_SLOTS, organizers[-1])
        Setup.mix_events = list(pool.map(
            lambda i: event(f"Steady {i}", MIX_SLOTS, organizers[i // EVENTS_PER_ORGANIZER]), range(MIX_EVENTS)))


def _book(user: FastHttpUser, event_id: str, headers: dict[str, str], name: str) -> str | None:
    """Book one seat; 201 and 409 (already booked) are both expected answers. The booking id or None."""
    with user.client.post(f"/v1/events/{event_id}/bookings", json={"seats": 1}, headers=headers, name=name,
                          catch_response=True) as response:
        if response.status_code == 201:
            return str(response.json()["id"])
        if response.status_code == 409:
            response.success()
        return None


class FlashSaleUser(FastHttpUser):
    """A stampede of fresh shoppers on one event."""

    wait_time = constant(0)

    @task
    def log_in_and_book(self) -> None:
        token = _token(lambda url, data: self.client.post(url, data=data, name="token"),
                       f"flash-{uuid.uuid4().hex}@load.test")
        _book(self, Setup.flash_event, {"Authorization": f"Bearer {token}"}, "book flash sale")


class SteadyUser(FastHttpUser):
    """Browsing, booking and cancelling over many events."""

    fixed_count = STEADY_USERS
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        token = _token(lambda url, data: self.client.post(url, data=data, name="token"),
                       f"steady-{uuid.uuid4().hex}@load.test")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.seen: list[str] = []
        self.bookings: list[str] = []
        self.client.get("/v1/me", headers=self.headers)

    @task(4)
    def browse(self) -> None:
        response = self.client.get("/v1/events?limit=20", headers=self.headers, name="/v1/events")
        if response.status_code == 200:
            self.seen = [e["id"] for e in response.json()["items"]] or self.seen

    @task(3)
    def open_event(self) -> None:
        event_id = random.choice(self.seen or Setup.mix_events)
        self.client.get(f"/v1/events/{event_id}", headers=self.headers, name="/v1/events/{id}")

    @task(2)
    def book(self) -> None:
        booking = _book(self, random.choice(Setup.mix_events), self.headers, "/v1/events/{id}/bookings")
        if booking:
            self.bookings.append(booking)

    @task(1)
    def cancel(self) -> None:
        if self.bookings:
            booking = self.bookings.pop(random.randrange(len(self.bookings)))
            self.client.post(f"/v1/bookings/{booking}/cancel", headers=self.headers, name="/v1/bookings/{id}/cancel")


class BurstShape(LoadTestShape):
    """Steady users, then a flash-sale burst on top of them, then steady again; then stop."""

    def tick(self) -> tuple[int, float, list[type]] | None:
        elapsed = self.get_run_time()  # type: ignore[no-untyped-call]  # locust's LoadTestShape is not annotated
        if elapsed < STAGE_SECONDS:
            return STEADY_USERS, 10, [SteadyUser, FlashSaleUser]
        if elapsed < STAGE_SECONDS * 1.5:
            return STEADY_USERS + FLASH_USERS, 100, [SteadyUser, FlashSaleUser]
        if elapsed < STAGE_SECONDS * 2.5:
            return STEADY_USERS, 100, [SteadyUser, FlashSaleUser]
        return None
