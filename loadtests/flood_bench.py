"""One user flooding under rate limits: `python -m loadtests.flood_bench [--smoke]`.

Starts `happening serve` on a throwaway database and prefixes (as `loadtests.bench` does), signs up
`--users` ordinary users and one flooder through the dev issuer, creates `--events` events, then runs
the ordinary users without a break (`loadtests.flood_users`, its own process: each user books, cancels
and reads at a human pace, about one action per `--think` seconds, from 127.0.0.2) through
alternating phases of `--phase` seconds, `--rounds` times:
- quiet: the ordinary users alone;
- flood: the same, while one user floods from 127.0.0.1 with wrk (`flood.lua`, its own process, as
  fast as `--flood-connections` connections allow): bookings and writes with its token, and requests
  with a junk token (its own, signature broken) from the same address.
For each phase it prints the ordinary users' requests, p50 and p99 (from send to the last byte), their
429s and errors, and for a flood the flooder's rate, its statuses, its 429s by limit and how many of
them carried Retry-After, and the CPU of the server and of every other process on the machine; then
the ratio of the ordinary users' p99 (flood / quiet) per round, their median (the verdict: within 2x,
issue 16; a pair's ratio also moves with whatever else the machine runs) and the phases pooled. Then
`happening check-invariants`.
Results: loadtests/results/flood-bench-<time>.json.

`--smoke`: small counts; correctness only (exit status 1 if the flooder got no 429, a 429 lacked
Retry-After, an ordinary user got a 429 or an error, or an invariant broke), never timings.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from . import cpu, wrk
from .flood_users import OrdinaryUsers
from .population import Population
from .processes import Platform, Process, run_and_report
from .report import percentile

RESULTS = Path(__file__).with_name("results")
SCRIPT = Path(__file__).with_name("flood.lua")
MARKER = "FLOOD_RESULT "
RAMP_SECONDS = 1.0  # a flood phase is measured from this long after wrk starts
DRAIN_SECONDS = 2.0  # after a flood, before the next quiet phase: the server's backlog drains


def junk(token: str) -> str:
    """`token` with every signature byte flipped: well formed, a real key id, an RS256 check that fails."""
    head, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return f"{head}.{payload}.{base64.urlsafe_b64encode(bytes(b ^ 0xFF for b in raw)).rstrip(b'=').decode()}"


async def flood(serve: Process, seconds: float, event: str, org: str, token: str,
                args: argparse.Namespace) -> dict[str, Any]:
    """wrk flooding for `seconds`; its FLOOD_RESULT figures."""
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t", "2", "-c", str(args.flood_connections), "-d", f"{seconds:.0f}s", "--timeout", "30s",
        "-s", str(SCRIPT), serve.url, "--", f"/v1/events/{event}", f"/v1/organizations/{org}", token, junk(token),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    found = [line for line in out.decode().splitlines() if line.startswith(MARKER)]
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out.decode()}\n{err.decode()}")
    raw = json.loads(found[-1][len(MARKER):])
    duration = raw["duration_us"] / 1e6
    return {"requests": raw["requests"], "requests_per_s": round(raw["requests"] / duration) if duration else 0,
            "statuses": dict(sorted(raw["statuses"].items())), "limited_429": raw["statuses"].get("429", 0),
            "limits": raw["limits"], "retry_after": raw["retry_after"], "socket_errors": raw["socket_errors"],
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000}


async def phases(serve: Process, args: argparse.Namespace, flooder: tuple[str, str, str],
                 roles: dict[int, str]) -> list[dict[str, Any]]:
    """Alternate quiet and flood phases; each one's window (CLOCK_MONOTONIC), the machine's CPU by
    role, and how long the server's loop was runnable but waiting for a core."""
    done = []
    for round_ in range(1, args.rounds + 1):
        for kind in ("quiet", "flood"):
            figures: dict[str, Any] = {"phase": f"{kind} {round_}", "kind": kind, "round": round_}
            if kind == "quiet":
                start, before, sched = time.monotonic(), cpu.snapshot(), cpu.schedstat(serve.popen.pid)
                await asyncio.sleep(args.phase)
            else:
                task = asyncio.create_task(flood(serve, args.phase + 2 * RAMP_SECONDS, *flooder, args))
                await asyncio.sleep(RAMP_SECONDS)
                start, before, sched = time.monotonic(), cpu.snapshot(), cpu.schedstat(serve.popen.pid)
                await asyncio.sleep(args.phase)
            figures["window"] = (start, time.monotonic())
            spent = cpu.breakdown(before, cpu.snapshot(), roles, {serve.popen.pid: "server children"})
            figures["cpu_percent"] = {role: round(100 * s / args.phase) for role, s in spent.items()}
            figures["server_cpu_percent"] = figures["cpu_percent"].get("server", 0)
            if sched is not None and (now := cpu.schedstat(serve.popen.pid)) is not None:
                figures["server_loop_waiting_for_cpu_percent"] = round(100 * (now[1] - sched[1]) / args.phase)
            if kind == "flood":
                figures["flooder"] = await task
                await asyncio.sleep(DRAIN_SECONDS)
            done.append(figures)
            print(f"  {figures['phase']}: done", flush=True)
    return done


def ordinary(samples: list[list[Any]], window: tuple[float, float]) -> dict[str, Any]:
    """The ordinary users' figures for the requests sent within `window`."""
    mine = [s for s in samples if window[0] <= s[0] < window[1]]
    latencies = [s[1] for s in mine]
    statuses = Counter(str(s[2]) for s in mine)
    return {"requests": len(mine), "requests_per_s": round(len(mine) / (window[1] - window[0])),
            "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99),
            "max_ms": round(max(latencies), 1) if latencies else 0.0, "statuses": dict(sorted(statuses.items())),
            "limited_429": statuses.get("429", 0),
            "p99_ms_by_kind": {kind: percentile([s[1] for s in mine if s[3] == kind], 0.99)
                               for kind in sorted({s[3] for s in mine})},
            "errors": sum(n for code, n in statuses.items() if code == "0" or int(code) >= 500)}


async def run(args: argparse.Namespace, platform: Platform) -> dict[str, Any]:
    serve = await platform.start_serve()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        people = Population(session, serve.url, platform.issuer)
        admin = await people.token("organizer@flood.test")
        org_id = (await people.sign_up(admin))["memberships"][0]["org_id"]
        events = await people.events(admin, org_id, args.events, args.slots, "flood")
        tokens = await people.users([f"user{i}@flood.test" for i in range(args.users)])
        token = await people.token("flooder@flood.test")
        flooder_org = (await people.sign_up(token))["memberships"][0]["org_id"]
    print(f"setup: {args.users} users, {args.events} events; ordinary users about"
          f" {args.users / args.think:.0f} requests/s, the flooder {args.flood_connections} connections", flush=True)
    users = OrdinaryUsers()
    await users.start(serve.url, tokens, events, args.think, platform.logs_dir)
    try:
        await asyncio.sleep(args.think)  # every user under way
        assert users.proc is not None
        roles = {serve.popen.pid: "server", users.proc.pid: "ordinary users"}
        done = await phases(serve, args, (events[0], flooder_org, token), roles)
    finally:
        samples = await users.stop()
        (platform.logs_dir / "samples.json").write_text(json.dumps(samples))
    for figures in done:
        figures["ordinary"] = ordinary(samples, figures["window"])
    result: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "out"}, "phases": done}
    quiet = [s[1] for f in done if f["kind"] == "quiet" for s in samples if f["window"][0] <= s[0] < f["window"][1]]
    loud = [s[1] for f in done if f["kind"] == "flood" for s in samples if f["window"][0] <= s[0] < f["window"][1]]
    result["pooled"] = {"quiet_p99_ms": percentile(quiet, 0.99), "flood_p99_ms": percentile(loud, 0.99),
                        "quiet_p50_ms": percentile(quiet, 0.5), "flood_p50_ms": percentile(loud, 0.5)}
    result["pooled"]["ratio"] = round(result["pooled"]["flood_p99_ms"] / max(result["pooled"]["quiet_p99_ms"], 0.1), 2)
    result["ratios"] = [round(done[i + 1]["ordinary"]["p99_ms"] / max(done[i]["ordinary"]["p99_ms"], 0.1), 2)
                        for i in range(0, len(done) - 1, 2)]
    result["median_ratio"] = round(statistics.median(result["ratios"]), 2)
    check = platform.happening("check-invariants")
    result["invariants"] = check.stdout.strip().splitlines()[-1:]
    result["invariants_ok"] = check.returncode == 0
    return result


def summary(r: dict[str, Any]) -> str:
    lines = ["| phase | ordinary requests | /s | p50 ms | p99 ms | max ms | 429 | errors | flooder requests/s"
             " | flooder 429 (by limit) | with Retry-After | flooder's other statuses | server CPU"
             " | other processes' CPU |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|"]
    for f in r["phases"]:
        o, fl = f["ordinary"], f.get("flooder")
        flood_cells = " | | | |" if fl is None else (
            f" {fl['requests_per_s']} | {fl['limited_429']} ({', '.join(f'{k} {v}' for k, v in fl['limits'].items())})"
            f" | {fl['retry_after']} | {', '.join(f'{k}: {v}' for k, v in fl['statuses'].items() if k != '429')} |")
        lines.append(f"| {f['phase']} | {o['requests']} | {o['requests_per_s']} | {o['p50_ms']} | {o['p99_ms']}"
                     f" | {o['max_ms']} | {o['limited_429']} | {o['errors']} |{flood_cells} {f['server_cpu_percent']}%"
                     f" | {f['cpu_percent'].get('other', 0)}% |")
    p, ratios = r["pooled"], r["ratios"]
    lines.append(f"ordinary users' p99, flood / quiet, by round: {', '.join(f'{x}x' for x in ratios)};"
                 f" median {r['median_ratio']}x (min {min(ratios)}x, max {max(ratios)}x):"
                 f" {'within' if r['median_ratio'] <= 2 else 'NOT within'} 2x")
    lines.append(f"pooled phases: p50 {p['quiet_p50_ms']} -> {p['flood_p50_ms']} ms, p99 {p['quiet_p99_ms']} ->"
                 f" {p['flood_p99_ms']} ms ({p['ratio']}x); other processes' CPU is the rest of the machine"
                 " (other users of these cores), 200% = both cores")
    lines.append(f"invariants: {' '.join(r['invariants'])}")
    return "\n".join(lines)


def problems(r: dict[str, Any]) -> list[str]:
    found = []
    for f in r["phases"]:
        o, fl = f["ordinary"], f.get("flooder")
        if o["limited_429"] or o["errors"] or not o["requests"]:
            found.append(f"{f['phase']}: ordinary users got {o['limited_429']} 429s, {o['errors']} errors,"
                         f" {o['requests']} requests")
        if fl is not None and (not fl["limited_429"] or fl["retry_after"] != fl["limited_429"]):
            found.append(f"{f['phase']}: the flooder got {fl['limited_429']} 429s,"
                         f" {fl['retry_after']} with Retry-After")
    if not r["invariants_ok"]:
        found.append(f"invariants: {r['invariants']}")
    return found


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.flood_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small counts; correctness only")
    parser.add_argument("--users", type=int, default=300, help="ordinary users")
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds between one user's requests")
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--slots", type=int, default=10_000, help="seats per event (never sold out)")
    parser.add_argument("--phase", type=float, default=8.0, help="seconds measured per phase")
    parser.add_argument("--rounds", type=int, default=4, help="quiet/flood pairs")
    parser.add_argument("--flood-connections", type=int, default=64)
    parser.add_argument("--out", type=Path, help="also write the results' JSON here")
    parser.add_argument("--env", action="append", default=[], metavar="HAPPENING_X=VALUE",
                        help="a setting for the server (e.g. HAPPENING_RATE_WRITE_BURST=60); repeatable")
    args = parser.parse_args(argv)
    if args.smoke:
        args.users, args.think, args.events, args.phase, args.rounds, args.flood_connections = 20, 0.5, 3, 3.0, 1, 16
    return args


async def amain(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not wrk.available():
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-smoke" if args.smoke else "")
    platform = Platform(logs_dir=RESULTS / f"flood-bench-{stamp}",
                        extra_env=dict(item.split("=", 1) for item in args.env))
    return await run_and_report(platform, lambda p: run(args, p), problems, summary,
                                (RESULTS / f"flood-bench-{stamp}.json", args.out))


def main() -> None:
    import uvloop
    sys.exit(uvloop.run(amain()))


if __name__ == "__main__":
    main()
