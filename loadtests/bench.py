"""The booking benchmark over HTTP: `python -m loadtests.bench [--smoke]`.

Starts the platform (`happening serve`) on a throwaway database and prefixes, signs up one user per
booking request through the dev issuer and `GET /v1/me`, creates the events through the API, then
drives `POST /v1/events/{id}/bookings {"seats":1}` with wrk (its own process, `bookings.lua`, an exact
number of requests; each scenario has its own new token per user, which neither server has verified
yet, so every booking request pays the full RS256 check; `--seen-tokens` measures users who opened a page
first):
- flash sale: 10,000 booking requests on one event of 500 slots;
- mix: 10,000 booking requests spread over 1,000 events.
After each scenario it waits until that scenario's notifications are delivered (and prints how long
that took), so the next one starts on a quiet machine; then it runs `happening check-invariants`.
Then, in the same run, the baseline: the same bookings done the common way (one transaction with
SELECT ... FOR UPDATE on the event row, no Redis: `loadtests.baseline`) behind the same HTTP stack
(`loadtests.baseline_app`), on fresh events with the same users, while `happening serve` stays up
(its relay and worker deliver the baseline's notifications too). Everything shares this machine's
cores: wrk, PostgreSQL, Redis, RabbitMQ and the measured process. Results:
loadtests/results/bench-<time>.{json,md}.

`--smoke`: tiny counts; checks correctness only (invariants, every request answered 201 or 409),
never timings; exit status 1 if anything is wrong.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from . import cpu, wrk
from .baseline_app import ROUTE as BASELINE_ROUTE
from .population import Population, bounded
from .processes import BULK_SETUP, Platform, Process
from .report import markdown

RESULTS = Path(__file__).with_name("results")


@dataclass(frozen=True)
class Scenario:
    name: str
    requests: int
    events: int
    slots: int


SCENARIOS = ("flash_sale", "mix")


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    every = [Scenario("flash_sale", args.flash_requests, 1, args.flash_slots),
             Scenario("mix", args.mix_requests, args.mix_events, args.mix_slots)]
    return [s for s in every if s.name in args.scenarios]


def _scenario_names(text: str) -> list[str]:
    names = text.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    return names


def request_lines(scenario: Scenario, events: list[str], tokens: list[str], path: str) -> list[tuple[str, str]]:
    """Request j: user j books event j mod E (consecutive requests hit different events in the mix)."""
    return [(path.format(event=events[j % len(events)]), tokens[j]) for j in range(scenario.requests)]


async def drive(process: Process, scenario: Scenario, events: list[str], tokens: list[str], path: str,
                workdir: Path, args: argparse.Namespace, label: str, roles: dict[int, str],
                child_roles: dict[int, str]) -> dict[str, Any]:
    """One wrk run against `process`, with the server's CPU use over the run and where the machine's
    CPU went (`cpu.breakdown` with these `roles`)."""
    if args.seen_tokens:  # each user opened a page just before (not timed): the server remembers the token
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            await bounded(tokens, Population(session, process.url, "").sign_up)
    file = wrk.write_requests(workdir / f"{label}.requests", request_lines(scenario, events, tokens, path))
    metrics_before = await engine_metrics(process)
    procs_before = cpu.snapshot()
    sched_before = cpu.schedstat(process.popen.pid)
    cpu_before, wall_before = process.cpu_seconds(), time.perf_counter()
    result = await wrk.run(process.url, file, threads=args.threads, connections=args.connections,
                           limit_seconds=args.limit_seconds)
    wall = time.perf_counter() - wall_before
    sched_after = cpu.schedstat(process.popen.pid)
    spent = cpu.breakdown(procs_before, cpu.snapshot(), roles, child_roles)
    spent["wrk"] = result.wrk_cpu_seconds  # it exited before the second snapshot
    file.unlink()
    figures = result.as_dict()
    used = process.cpu_seconds() - cpu_before
    figures["server_cpu_percent"] = round(100 * used / wall)
    figures["server_cpu_ms_per_request"] = round(1000 * used / max(result.requests, 1), 2)
    figures["cpu_ms_per_request"] = {role: round(1000 * s / max(result.requests, 1), 3)
                                     for role, s in sorted(spent.items(), key=lambda i: -i[1])}
    figures["machine_busy_percent"] = round(100 * sum(spent.values()) / (wall * (os.cpu_count() or 1)))
    figures["load_average_1m_after"] = round(os.getloadavg()[0], 2)  # > cores: something else ran too
    if sched_before and sched_after:  # the server's event loop: short of CPU, or waiting on I/O?
        figures["server_loop_running_percent"] = round(100 * (sched_after[0] - sched_before[0]) / wall)
        figures["server_loop_waiting_for_cpu_percent"] = round(100 * (sched_after[1] - sched_before[1]) / wall)
    metrics = {k: v - metrics_before.get(k, 0.0) for k, v in (await engine_metrics(process)).items()}
    if metrics.get("happening_actor_batch_size_count"):
        figures["mean_actor_batch"] = round(metrics["happening_actor_batch_size_sum"]
                                            / metrics["happening_actor_batch_size_count"], 1)
        figures["actor_batches"] = int(metrics["happening_actor_batch_size_count"])
    if metrics.get("happening_cache_rebuilds_total"):
        figures["cache_rebuilds"] = int(metrics["happening_cache_rebuilds_total"])
    print(f"  {label}: {figures['requests']} requests in {figures['seconds']}s = {figures['requests_per_s']}/s,"
          f" p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms,"
          f" 201 {figures['created_201']}, 409 {figures['conflicts_409']}, errors {figures['errors']},"
          f" server CPU {figures['server_cpu_percent']}% ({figures['server_cpu_ms_per_request']} ms/request),"
          f" wrk CPU {figures['wrk_cpu_seconds']}s,"
          f" mean actor batch {figures.get('mean_actor_batch', '-')},"
          f" load average {figures['load_average_1m_after']}", flush=True)
    loop = (f"; server loop running {figures['server_loop_running_percent']}%, waiting for a CPU"
            f" {figures['server_loop_waiting_for_cpu_percent']}%" if "server_loop_running_percent" in figures else "")
    print(f"    machine {figures['machine_busy_percent']}% busy; CPU ms per request: "
          + ", ".join(f"{role} {ms}" for role, ms in figures["cpu_ms_per_request"].items()) + loop, flush=True)
    return figures


async def engine_metrics(process: Process) -> dict[str, float]:
    """Actor batch sizes and cache rebuilds so far, from the process's /metrics (summed over labels)."""
    wanted = ("happening_actor_batch_size_sum", "happening_actor_batch_size_count",
              "happening_cache_rebuilds_total")
    async with aiohttp.ClientSession() as session, session.get(f"{process.url}/metrics") as response:
        text = await response.text()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                found[sample.name] = found.get(sample.name, 0.0) + sample.value
    return found


async def drain(platform: Platform, timeout: float) -> int:
    """Wait until no notification is pending (relayed and delivered); the count left at the deadline."""
    deadline = time.monotonic() + timeout
    while (pending := await platform.pending_notifications()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return pending


async def drive_all(platform: Platform, drive_one: Callable[[Scenario], Awaitable[dict[str, Any]]],
                    runs: list[Scenario], timeout: float) -> dict[str, dict[str, Any]]:
    """Each scenario in turn, starting once the notifications of the one before were delivered (so that
    none pays for another's); how long its own took to deliver after its last response is printed."""
    out = {}
    for s in runs:
        out[s.name] = figures = await drive_one(s)
        started = time.monotonic()
        figures["notifications_pending_after"] = await drain(platform, timeout)
        figures["notifications_delivered_after_s"] = round(time.monotonic() - started, 1)
        print(f"    notifications: all delivered {figures['notifications_delivered_after_s']}s after the last"
              f" response ({figures['notifications_pending_after']} still pending)", flush=True)
    return out


async def baseline_oversold(platform: Platform, events: list[str]) -> list[str]:
    """Baseline events whose confirmed seats exceed their capacity (the baseline must not oversell)."""
    conn = await asyncpg.connect(platform.database_url)
    try:
        rows = await conn.fetch(
            "select e.id from events e join bookings b on b.event_id = e.id and b.status = 'confirmed'"
            " where e.id = any($1::uuid[]) group by e.id, e.total_slots having sum(b.seats) > e.total_slots",
            events)
    finally:
        await conn.close()
    return [str(r["id"]) for r in rows]


async def bench(args: argparse.Namespace, platform: Platform) -> dict[str, Any]:
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    runs = scenarios(args)
    users = max(s.requests for s in runs)
    result: dict[str, Any] = {
        "started": started, "smoke": args.smoke, "cores": os.cpu_count(), "threads": args.threads,
        "connections": args.connections, "server_env": args.server_env,
        "tokens": "seen" if args.seen_tokens else "fresh",
        "note": "wrk, PostgreSQL, Redis, RabbitMQ and the measured process share the machine's cores",
        "scenarios": {s.name: {"requests": s.requests, "events": s.events, "slots": s.slots} for s in runs},
    }
    result["load_average_1m_before"] = round(os.getloadavg()[0], 2)
    print(f"platform: database {platform.database}, logs in {platform.logs_dir};"
          f" load average {result['load_average_1m_before']} on {os.cpu_count()} cores", flush=True)
    serve = await platform.start_serve()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        population = Population(session, serve.url, platform.issuer)
        t = time.perf_counter()
        admin = await population.token("organizer@bench.test")
        org_id = (await population.sign_up(admin))["memberships"][0]["org_id"]
        emails = [f"user{i}@bench.test" for i in range(users)]
        await population.users(emails)
        # Each scenario books with tokens neither server has seen (a user's first request after
        # logging in): every booking request pays the RS256 check, for Happening and the baseline.
        tokens = {s.name: await population.tokens(emails) for s in runs}
        events = {s.name: await population.events(admin, org_id, s.events, s.slots, s.name) for s in runs}
        base_events = {s.name: await population.events(admin, org_id, s.events, s.slots, f"baseline {s.name}")
                       for s in runs} if args.baseline else {}
        print(f"setup: {users} users, {sum(s.events for s in runs)} events (x2 with baseline),"
              f" a fresh token per user and scenario"
              f" in {time.perf_counter() - t:.1f}s", flush=True)

    workdir = platform.logs_dir
    print("engine (happening serve):", flush=True)
    roles, child_roles = {serve.popen.pid: "api+engine"}, {serve.popen.pid: "notifications"}
    result["engine"] = await drive_all(platform, lambda s: drive(
        serve, s, events[s.name], tokens[s.name], "/v1/events/{event}/bookings", workdir, args, s.name, roles,
        child_roles), runs, args.drain_timeout)
    left = await platform.pending_notifications()
    check = platform.happening("check-invariants")
    result["invariants"] = {"ok": check.returncode == 0 and left == 0, "pending_notifications": left,
                            "output": check.stdout.strip().splitlines()}
    print(f"outbox: {left} notification(s) pending; check-invariants: {check.stdout.strip()}", flush=True)

    if args.baseline:
        base = await platform.start_baseline()
        print("baseline (SELECT ... FOR UPDATE, same HTTP stack):", flush=True)
        roles[base.popen.pid] = "baseline app"
        result["baseline"] = await drive_all(platform, lambda s: drive(
            base, s, base_events[s.name], tokens[s.name], BASELINE_ROUTE, workdir, args, f"baseline_{s.name}", roles,
            child_roles), runs, args.drain_timeout)
        result["baseline_oversold_events"] = await baseline_oversold(
            platform, [e for ids in base_events.values() for e in ids])
        result["ratio"] = {s.name: round(result["engine"][s.name]["requests_per_s"]
                                         / max(result["baseline"][s.name]["requests_per_s"], 1), 1) for s in runs}
    return result


def problems(result: dict[str, Any]) -> list[str]:
    """Correctness failures: invariant violations, and load that did not run as planned."""
    found = [] if result["invariants"]["ok"] else [f"invariants: {result['invariants']}"]
    for side in ("engine", "baseline"):
        for name, figures in result.get(side, {}).items():
            if not figures["complete"] or figures["errors"]:
                found.append(f"{side} {name}: complete={figures['complete']} errors={figures['errors']}"
                             f" codes={figures['other_status_codes']}")
    if result.get("baseline_oversold_events"):
        found.append(f"baseline oversold: {result['baseline_oversold_events']}")
    return found


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts; correctness only")
    parser.add_argument("--flash-requests", type=int, default=10_000)
    parser.add_argument("--flash-slots", type=int, default=500)
    parser.add_argument("--mix-requests", type=int, default=10_000)
    parser.add_argument("--mix-events", type=int, default=1_000)
    parser.add_argument("--mix-slots", type=int, default=8, help="< requests per event, so some wait")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--scenarios", type=_scenario_names, default="flash_sale,mix",
                        help="comma-separated: flash_sale, mix")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument("--seen-tokens", action="store_true",
                        help="before each timed run, each user opens a page (GET /v1/me) on that server, as a"
                             " user does before booking: its token is then already verified (for 60 s)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for both servers, e.g. HAPPENING_DATABASE_MAX_SIZE=20")
    parser.add_argument("--limit-seconds", type=int, default=300, help="bound on one wrk run gone wrong")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if args.smoke:
        args.flash_requests, args.flash_slots = 200, 50
        args.mix_requests, args.mix_events, args.mix_slots = 200, 20, 8
        args.connections, args.limit_seconds, args.drain_timeout = 16, 30, 30.0
    return args


async def amain(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-smoke" if args.smoke else "")
    extra = dict(item.split("=", 1) for item in args.server_env)
    platform = Platform(logs_dir=RESULTS / f"bench-{stamp}", extra_env={**BULK_SETUP, **extra})
    try:
        result = await bench(args, platform)
    finally:
        await platform.teardown()
    found = problems(result)
    result["problems"] = found
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (RESULTS / f"bench-{stamp}.md").write_text(table)
    if not args.smoke:
        print("\n" + table)
    for line in found:
        print(f"PROBLEM {line}")
    print(f"results: {RESULTS / f'bench-{stamp}.json'}")
    return 1 if found else 0


def main() -> None:
    import uvloop
    sys.exit(uvloop.run(amain()))


if __name__ == "__main__":
    main()
