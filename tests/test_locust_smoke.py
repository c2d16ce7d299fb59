"""`loadtests/locustfile.py` headless against a real `happening serve`, with small counts and short
stages: every scenario runs (token, browse, book, cancel, the flash-sale burst), the CSV output is
written, no request fails, and the platform's invariants hold afterwards. Correctness only, never
timings.
"""
from __future__ import annotations

import asyncio
import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from loadtests.bench import drain
from loadtests.processes import Platform

ROOT = Path(__file__).resolve().parent.parent


# Not imported here: importing locust monkey-patches this process for gevent.
@pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust is not installed (the test extra)")
@pytest.mark.timeout(180)
async def test_locust_scenarios_run_headless_and_keep_invariants(tmp_path: Path) -> None:
    platform = Platform(logs_dir=tmp_path / "logs")
    try:
        serve = await platform.start_serve()
        env = {**os.environ, "LOADTEST_STEADY_USERS": "4", "LOADTEST_FLASH_USERS": "30",
               "LOADTEST_FLASH_SLOTS": "20", "LOADTEST_MIX_EVENTS": "20", "LOADTEST_MIX_SLOTS": "3",
               "LOADTEST_STAGE_SECONDS": "6"}
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "locust", "-f", "loadtests/locustfile.py", "--headless", "--host", serve.url,
             "--csv", str(tmp_path / "locust"), "--only-summary", "--loglevel", "WARNING"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"

        with (tmp_path / "locust_stats.csv").open() as stats:
            rows = {row["Name"]: row for row in csv.DictReader(stats)}
        for name in ("token", "/v1/events", "/v1/events/{id}", "/v1/events/{id}/bookings", "book flash sale"):
            assert int(rows[name]["Request Count"]) > 0, f"{name} never ran: {sorted(rows)}"
        assert rows["Aggregated"]["Failure Count"] == "0", (tmp_path / "locust_failures.csv").read_text()

        assert await drain(platform, 60) == 0
        check = platform.happening("check-invariants")
        assert check.returncode == 0, check.stdout + check.stderr
        # the burst wanted more seats than the flash sale had: some were confirmed, the rest queued
        confirmed, waiting = await _flash_sale_outcome(platform)
        assert confirmed == 20 and waiting > 0
    finally:
        await platform.teardown()


async def _flash_sale_outcome(platform: Platform) -> tuple[int, int]:
    conn = await asyncpg.connect(platform.database_url)
    try:
        row = await conn.fetchrow("select confirmed_seats, waiting_count from events where name = 'Flash sale'")
    finally:
        await conn.close()
    return int(row["confirmed_seats"]), int(row["waiting_count"])
