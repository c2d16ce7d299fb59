"""Driving wrk (its own process) with `bookings.lua`: an exact number of booking requests, one per
line of a request file ("<path>\\t<token>"), and the figures it reports.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("bookings.lua")
MARKER = "WRK_RESULT "
START = "WRK_THREAD_START"
DONE = "WRK_THREAD_DONE"
TARGETS = "WRK_TARGETS"  # host:port,host:port: the servers bookings.lua spreads wrk's threads over


def available() -> bool:
    return shutil.which("wrk") is not None


def write_requests(path: Path, lines: list[tuple[str, str]]) -> Path:
    """The request file: one booking request per (url path, token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{p}\t{token}\n" for p, token in lines))
    return path


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured (latencies in ms); `raw` is the Lua script's JSON line."""

    requests: int
    seconds: float
    created: int
    conflicts: int
    errors: int  # non-2xx other than 409, plus socket errors
    complete: bool
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    wrk_cpu_seconds: float
    raw: dict[str, Any]

    @property
    def rate(self) -> float:
        """Booking requests answered per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "seconds": round(self.seconds, 3), "requests_per_s": round(self.rate),
                "created_201": self.created, "conflicts_409": self.conflicts, "errors": self.errors,
                "complete": self.complete, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms,
                "max_ms": self.max_ms, "wrk_cpu_seconds": round(self.wrk_cpu_seconds, 2),
                "other_status_codes": self.raw.get("other_codes", "").split()}


async def run(base_urls: str | list[str], request_file: Path, *, threads: int, connections: int,
              limit_seconds: int) -> WrkRun:
    """Send every request of `request_file` once; `limit_seconds` only bounds a broken run. With several
    `base_urls` (servers on one host), wrk's thread t connects to server t mod N, so its connections and
    requests are spread evenly when the threads are a multiple of the servers."""
    urls = [base_urls] if isinstance(base_urls, str) else base_urls
    lines = sum(1 for _ in request_file.open())
    threads = max(1, min(threads, lines))
    connections = max(threads, connections)
    targets = ",".join(url.removeprefix("http://").rstrip("/") for url in urls)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{limit_seconds}s", "--timeout", "60s",
        "-s", str(SCRIPT), urls[0], "--", str(request_file), str(threads),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, TARGETS: targets} if len(urls) > 1 else None)
    assert proc.stdout is not None and proc.stderr is not None
    first_start: float | None = None
    last_done = 0.0
    done_threads = 0
    text = []
    while line := (await proc.stdout.readline()).decode():
        now = time.perf_counter()
        if line.startswith(START) and first_start is None:
            first_start = now
        elif line.startswith(DONE):
            done_threads, last_done = done_threads + 1, now
            if done_threads == threads:  # wrk would sleep on until -d: wake it (it then prints its summary)
                proc.send_signal(signal.SIGINT)
        else:
            text.append(line)
    err = await proc.stderr.read()
    await proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = [line for line in text if line.startswith(MARKER)]
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {''.join(text)}\n{err.decode()}")
    raw = json.loads(found[-1][len(MARKER):])
    socket_errors = sum(raw["socket_errors"].values())
    timed = last_done - first_start if first_start is not None and done_threads == threads else None
    return WrkRun(
        requests=raw["received"], created=raw["created"],
        seconds=timed if timed is not None else raw["duration_us"] / 1e6,
        conflicts=raw["conflicts"], errors=raw["others"] + socket_errors,
        complete=bool(raw["complete"]) and raw["received"] == lines,
        p50_ms=raw["p50_us"] / 1000, p95_ms=raw["p95_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        wrk_cpu_seconds=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), raw=raw)
