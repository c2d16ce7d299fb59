"""The split layout against `happening serve`, in one run: `python -m loadtests.bench --layout split`.

Split: 2 `happening api`, `happening engine --shard K --shards 2` for K = 0, 1 with a standby each
(`--no-standby`: none), and one `happening worker` (the engines relay their outbox). wrk's threads are
spread over the APIs (thread t sends to API t mod 2). The two layouts run one after the other
(`--first`) on one database with one dev issuer: setup once, through whichever is up first; each layout
books its own events with tokens that no process has seen; invariants are checked after each layout.
Printed: both layouts' figures, split as a share of serve, and the CPU each part of the split layout
spent per request, from which the hot event's bookings/s as API replicas are added is estimated on
paper (`headline`): an event's actor is one engine process (one core), each API replica another core.
"""
from __future__ import annotations

import argparse
import functools
import os
import time
from typing import Any

import aiohttp

from .driving import Scenario, Target, drive, drive_all, invariants
from .population import Population
from .processes import Platform

APIS = 2
SHARDS = 2
SPLIT_ENV = {"HAPPENING_ENGINE_SHARDS": str(SHARDS)}
LAYOUTS = ("serve", "split")
BOOK = "/v1/events/{event}/bookings"
REPLICAS = (1, 2, 4, 8, 16)  # API replicas in the headline's table


async def start_split(platform: Platform, standby: bool) -> Target:
    """The shard map set to `SHARDS`; engines (the first of each shard consumes, the second is its
    standby), the worker, then the APIs (their /readyz waits for every shard's heartbeat). Only these
    processes are told the shard count: `happening serve` on the same database runs every shard."""
    done = platform.happening("shards", "set", str(SHARDS))  # status 1: no engine serves the shards yet
    if f"{SHARDS} shard(s)" not in done.stdout:
        raise RuntimeError(f"happening shards set failed: {done.stdout}{done.stderr}")
    engines, roles = [], {}
    for copy in range(2 if standby else 1):
        for shard in range(SHARDS):
            engine = await platform.start_part(f"engine{shard}.{copy}", "engine", "--shard", str(shard),
                                               **SPLIT_ENV)
            engines.append(engine)
            roles[engine.popen.pid] = "engine" if copy == 0 else "standby engine"
    worker = await platform.start_part("worker", "worker", ready="/healthz", **SPLIT_ENV)
    roles[worker.popen.pid] = "notifications"
    apis = []
    for i in range(APIS):
        api = await platform.start_part(f"api{i}", "api", HAPPENING_OIDC_ISSUER=platform.issuer, **SPLIT_ENV)
        apis.append(api)
        roles[api.popen.pid] = "api"
    return Target("split", apis, engines[:SHARDS], roles)


def stop(target: Target, platform: Platform) -> None:
    for process in [*target.apis, *target.engines, *platform.parts]:
        if process.popen.pid in target.roles:
            process.stop()


async def start(layout: str, platform: Platform, args: argparse.Namespace) -> Target:
    if layout == "split":
        return await start_split(platform, args.standby)
    serve = await platform.start_serve(HAPPENING_OIDC_ISSUER=platform.issuer)
    return Target.single("serve", serve, "api+engine", "notifications")


async def setup(url: str, issuer: str, runs: list[Scenario]
                ) -> tuple[dict[str, dict[str, list[str]]], dict[str, dict[str, list[str]]]]:
    """Users signed up once; per layout and scenario, fresh tokens and the events: (tokens, events)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        population = Population(session, url, issuer)
        t = time.perf_counter()
        admin = await population.token("organizer@bench.test")
        org_id = (await population.sign_up(admin))["memberships"][0]["org_id"]
        emails = [f"user{i}@bench.test" for i in range(max(s.requests for s in runs))]
        await population.users(emails)
        tokens = {layout: {s.name: await population.tokens(emails) for s in runs} for layout in LAYOUTS}
        events = {layout: {s.name: await population.events(admin, org_id, s.events, s.slots, f"{layout} {s.name}")
                           for s in runs} for layout in LAYOUTS}
        print(f"setup: {len(emails)} users, {sum(s.events for s in runs)} events per layout,"
              f" a fresh token per user, layout and scenario in {time.perf_counter() - t:.1f}s", flush=True)
    return tokens, events


async def bench_split(args: argparse.Namespace, platform: Platform, runs: list[Scenario],
                      result: dict[str, Any]) -> dict[str, Any]:
    """Both layouts, one after the other (`args.first` first); their figures go into `result`."""
    order = [args.first, *(layout for layout in LAYOUTS if layout != args.first)]
    result.update(layout="split", order=order, apis=APIS, shards=SHARDS, standby=args.standby)
    done = platform.happening("migrate")
    if done.returncode != 0:
        raise RuntimeError(f"happening migrate failed: {done.stderr}")
    await platform.start_dev_issuer()
    tokens: dict[str, dict[str, list[str]]] = {}
    events: dict[str, dict[str, list[str]]] = {}
    for layout in order:
        target = await start(layout, platform, args)
        if not tokens:
            tokens, events = await setup(target.apis[0].url, platform.issuer, runs)
        names = sorted({f"{p.name} pid {p.popen.pid}" for p in [*target.apis, *target.engines]})
        print(f"{layout}: {', '.join(names)}", flush=True)
        result[layout] = await drive_all(platform, functools.partial(
            _drive, target, events[layout], tokens[layout], platform, args), runs, args.drain_timeout)
        result[f"{layout}_invariants"] = await invariants(platform)
        stop(target, platform)
    result["split_share_of_serve"] = {s.name: round(result["split"][s.name]["requests_per_s"]
                                                    / max(result["serve"][s.name]["requests_per_s"], 1), 2)
                                      for s in runs}
    result["headline"] = {s.name: headline(result["split"][s.name]) for s in runs}
    return result


async def _drive(target: Target, events: dict[str, list[str]], tokens: dict[str, list[str]], platform: Platform,
                 args: argparse.Namespace, scenario: Scenario) -> dict[str, Any]:
    return await drive(target, scenario, events[scenario.name], tokens[scenario.name], BOOK, platform.logs_dir,
                       args, f"{target.name}_{scenario.name}")


def headline(figures: dict[str, Any]) -> dict[str, Any]:
    """One hot event's bookings/s on paper as API replicas are added, each API and the event's engine on
    a core of its own: N replicas answer N * 1000 / (API ms per request), the engine at most
    1000 / (engine ms per request). PostgreSQL, Redis and RabbitMQ are assumed to keep up."""
    spent = figures["cpu_ms_per_request"]
    api_ms, engine_ms = spent.get("api", 0.0), spent.get("engine", 0.0)
    ceiling = 1000 / engine_ms if engine_ms else 0.0
    rates = {n: round(min(n * 1000 / api_ms, ceiling)) if api_ms else 0 for n in REPLICAS}
    return {"api_cpu_ms_per_request": api_ms, "engine_cpu_ms_per_request": engine_ms,
            "engine_ceiling_per_s": round(ceiling), "bookings_per_s_by_api_replicas": rates,
            "replicas_to_saturate_engine": round(engine_ms and api_ms / engine_ms, 1),
            "others_ms_per_request": {k: v for k, v in spent.items() if k not in ("api", "engine")}}


def split_summary(result: dict[str, Any]) -> str:
    """The comparison and the headline, as printed at the end of a run."""
    lines = []
    for name, share in result["split_share_of_serve"].items():
        both = []
        for layout in LAYOUTS:
            f, ok = result[layout][name], result[f"{layout}_invariants"]["ok"]
            both.append(f"{layout} {f['requests_per_s']}/s (p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms,"
                        f" errors {f['errors']}, invariants {'hold' if ok else 'VIOLATED'})")
        lines.append(f"{name}: {' vs '.join(both)}; split = {share:.0%} of serve")
        h = result["headline"][name]
        rates = ", ".join(f"{n} API{'s' if n > 1 else ''}: {r}/s"
                          for n, r in h["bookings_per_s_by_api_replicas"].items())
        lines.append(f"  on paper, one hot event (API {h['api_cpu_ms_per_request']} ms and engine"
                     f" {h['engine_cpu_ms_per_request']} ms of CPU per request): {rates};"
                     f" the engine's ceiling {h['engine_ceiling_per_s']}/s")
    lines.append(f"  ({os.cpu_count()} cores shared by wrk, PostgreSQL, Redis, RabbitMQ and every process of"
                 f" the layout; order {', '.join(result['order'])})")
    return "\n".join(lines)
