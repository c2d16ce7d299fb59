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

`--layout split`: instead of the baseline, the split layout (2 `happening api`, an engine and a standby per
shard of 2, a worker) against `happening serve` in the same run (`loadtests.split_bench`).

`--smoke`: tiny counts; checks correctness only (invariants, every request answered 201 or 409),
never timings; exit status 1 if anything is wrong.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from .baseline_app import ROUTE as BASELINE_ROUTE
from .driving import Scenario, Target, drive, drive_all, invariants
from .driving import drain as drain  # tests/test_locust_smoke.py waits with it
from .population import Population
from .processes import BULK_SETUP, Platform
from .report import markdown
from .split_bench import bench_split, split_summary

RESULTS = Path(__file__).with_name("results")


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
    if args.layout == "split":
        return await bench_split(args, platform, runs, result)
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
    target = Target.single("serve", serve, "api+engine", "notifications")
    result["engine"] = await drive_all(platform, lambda s: drive(
        target, s, events[s.name], tokens[s.name], "/v1/events/{event}/bookings", workdir, args, s.name),
        runs, args.drain_timeout)
    result["invariants"] = await invariants(platform)

    if args.baseline:
        base = await platform.start_baseline()
        print("baseline (SELECT ... FOR UPDATE, same HTTP stack):", flush=True)
        target = Target.single("baseline", base, "baseline app")
        target.roles[serve.popen.pid], target.child_roles[serve.popen.pid] = "api+engine", "notifications"
        result["baseline"] = await drive_all(platform, lambda s: drive(
            target, s, base_events[s.name], tokens[s.name], BASELINE_ROUTE, workdir, args, f"baseline_{s.name}"),
            runs, args.drain_timeout)
        result["baseline_oversold_events"] = await baseline_oversold(
            platform, [e for ids in base_events.values() for e in ids])
        result["ratio"] = {s.name: round(result["engine"][s.name]["requests_per_s"]
                                         / max(result["baseline"][s.name]["requests_per_s"], 1), 1) for s in runs}
    return result


def problems(result: dict[str, Any]) -> list[str]:
    """Correctness failures: invariant violations, and load that did not run as planned."""
    found = [f"invariants ({side}): {result[key]}" for key, side in (
        ("invariants", "engine"), ("split_invariants", "split"), ("serve_invariants", "serve"))
        if key in result and not result[key]["ok"]]
    for side in ("engine", "baseline", "split", "serve"):
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
    parser.add_argument("--layout", choices=("serve", "split"), default="serve",
                        help="split: the split layout (2 APIs, an engine per shard of 2 with a standby each, a"
                             " worker) and `happening serve` in the same run, instead of serve and the baseline")
    parser.add_argument("--first", choices=("serve", "split"), default="split",
                        help="with --layout split: which layout runs first")
    parser.add_argument("--no-standby", dest="standby", action="store_false",
                        help="with --layout split: no standby engines")
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
    table = split_summary(result) if args.layout == "split" else markdown(result)
    (RESULTS / f"bench-{stamp}.md").write_text(table)
    if not args.smoke or args.layout == "split":
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
