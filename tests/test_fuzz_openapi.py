"""schemathesis against a real `happening serve`: every operation of /v1/openapi.json, every check
(`--checks all`), bounded examples, once as each of two users of different organizations (its own
token and its own organization, event, booking and invite as the path parameters); zero failures.

JSON Schema cannot state a few rules, so for the operations they touch a schema-valid request may
still be refused with 422 (positive_data_acceptance is told so, nothing else is relaxed): a cursor is
only what a page handed out; event times must lie in the future with the end after the start; seats
at most the event's max_seats_per_booking. A longer run: HAPPENING_FUZZ_EXAMPLES=200 (README, Development).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from api.openapi import document
from loadtests.processes import BULK_SETUP, Platform

ST = shutil.which("st")
MAX_EXAMPLES = int(os.environ.get("HAPPENING_FUZZ_EXAMPLES", "30"))  # per operation and phase
# event times, and seats against the event's own maximum (see above)
CROSS_FIELD_RULES = {"post_organizations_org_events", "patch_events_event", "patch_organizations_org_events_event",
                     "post_events_event_bookings"}
ACCEPTED = ["2xx", "401", "403", "404", "409", "429"]
# limits high enough that the fuzzer reaches the handlers (429s stay documented and possible)
RATE_ENV = {**BULK_SETUP, "HAPPENING_RATE_ORG_BURST": "100000", "HAPPENING_RATE_INVITE_BURST": "100000",
            "HAPPENING_RATE_BOOKING_BURST": "100000"}  # a fuzzer writes far faster than a person


def unstatable_operations() -> list[str]:
    """operationIds where a schema-valid request can get 422: lists (their cursor) and CROSS_FIELD_RULES."""
    out = set(CROSS_FIELD_RULES)
    for item in document()["paths"].values():
        for method, op in item.items():
            if method != "parameters" and any(p["name"] == "cursor" for p in op["parameters"]):
                out.add(op["operationId"])
    return sorted(out)


def config(seeds: dict[str, str], max_examples: int) -> str:
    """schemathesis.toml for one user's run: its ids as the path parameters."""
    lines = ["max-stream-events = 1", "request-timeout = 20", "", "[generation]", f"max-examples = {max_examples}",
             "", "[parameters]"]
    lines += [f'"path.{name}" = "{value}"' for name, value in seeds.items()]
    lines += ["", "[[operations]]", f"include-operation-id = {json.dumps(unstatable_operations())}",
              "[operations.checks.positive_data_acceptance]",
              f"expected-statuses = {json.dumps([*ACCEPTED, '422'])}", ""]
    return "\n".join(lines)


async def _seed(session: aiohttp.ClientSession, url: str, issuer: str, name: str) -> tuple[str, dict[str, str]]:
    """A user signed up with its organization, a published event, a booking, an invite and a second
    member; its token and those ids."""
    async def token(email: str) -> str:
        form = {"grant_type": "password", "client_id": "happening-api", "username": email, "password": "x"}
        async with session.post(f"{issuer}/protocol/openid-connect/token", data=form) as response:
            return str((await response.json())["access_token"])

    async def call(method: str, path: str, auth: str, body: Any = None, status: int = 200) -> Any:
        async with session.request(method, url + path, json=body, headers={"Authorization": f"Bearer {auth}"}) as r:
            assert r.status == status, await r.text()
            return await r.json()

    access, other = await token(f"{name}@example.com"), await token(f"{name}-member@example.com")
    org = (await call("GET", "/v1/me", access))["memberships"][0]["org_id"]
    member = (await call("GET", "/v1/me", other))["id"]
    invite = await call("POST", f"/v1/organizations/{org}/invites", access, {"email": f"{name}-member@example.com",
                                                                           "role": "user"}, 201)
    await call("POST", f"/v1/invites/{invite['token']}/accept", other)
    pending = await call("POST", f"/v1/organizations/{org}/invites", access, {"email": f"{name}-x@example.com",
                                                                            "role": "organizer"}, 201)
    start = datetime.now(UTC) + timedelta(days=30)
    event = await call("POST", f"/v1/organizations/{org}/events", access, {
        "name": f"{name}'s launch", "category": "concert", "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(), "total_slots": 5}, 201)
    await call("POST", f"/v1/events/{event['id']}/publish", access)
    booking = await call("POST", f"/v1/events/{event['id']}/bookings", other, {"seats": 2}, 201)
    return access, {"org": org, "event": event["id"], "booking": booking["id"], "invite": pending["id"],
                    "user": member}


async def fuzz(url: str, issuer: str, workdir: Path, max_examples: int) -> list[tuple[str, int, str]]:
    """One run per user (alice, bob: different organizations): (user, exit code, output) each."""
    results = []
    async with aiohttp.ClientSession() as session:
        users = [(name, *await _seed(session, url, issuer, name)) for name in ("alice", "bob")]
    for name, access, seeds in users:
        path = workdir / f"schemathesis-{name}.toml"
        path.write_text(config(seeds, max_examples))
        argv = [str(ST), "--config-file", str(path), "run", f"{url}/v1/openapi.json", "--checks", "all",
                "--workers", "1", "--no-color", "-H", f"Authorization: Bearer {access}"]
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=600,
                                       cwd=workdir)
        results.append((name, done.returncode, done.stdout + done.stderr))
    return results


@pytest.mark.skipif(ST is None, reason="schemathesis is not installed (pip install -e '.[test]')")
@pytest.mark.timeout(600)
async def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    platform = Platform(logs_dir=tmp_path, extra_env=RATE_ENV)
    try:
        serve = await platform.start_serve()
        for name, code, output in await fuzz(serve.url, platform.issuer, tmp_path, MAX_EXAMPLES):
            assert code == 0, f"schemathesis as {name}:\n{output[-12000:]}"
    finally:
        await platform.teardown()
