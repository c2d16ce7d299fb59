"""Live streams under a flash sale: `python -m loadtests.stream_bench [--smoke]`.

Starts `happening serve` on a throwaway database and prefixes (as `loadtests.bench` does), then in
one run:
1. the baseline: a flash sale (wrk, fresh tokens, one event) with no stream open;
2. opens `--streams` live streams on the one API process from `--clients` separate processes
   (`loadtests.stream_clients`): `--user-streams` of them `GET /v1/me/live` of the next sale's bookers,
   `--flash-watchers` `GET /v1/events/{id}/live` of the next sale's event, the rest spread over
   `--quiet-events` other events;
3. the same flash sale on a new event with the streams open.
Prints the server's RSS without and with the streams, push latency p50/p99 from `committed_at` to the
client's receipt (every `state` and `booking` message during the sale), both sales' booking rates, and
whether every stream of the sale's event ended at the final state read from the API; then runs
`happening check-invariants`. The server's fd limit is raised to its hard limit first.

`--smoke`: small counts, correctness only (exit status 1 if a stream missed the final state, a
stream failed or an invariant broke), never timings.
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from . import cpu, wrk
from .population import Population
from .processes import BULK_SETUP, Platform, Process, run_and_report
from .report import percentile
from .stream_clients import Clients

RESULTS = Path(__file__).with_name("results")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def flash(serve: Process, event: str, tokens: list[str], args: argparse.Namespace, workdir: Path,
                label: str, clients: tuple[int, ...] = ()) -> dict[str, Any]:
    """One wrk flash sale, with the CPU the server (API+engine process) and the stream clients used."""
    lines = [(f"/v1/events/{event}/bookings", token) for token in tokens]
    file = wrk.write_requests(workdir / f"{label.replace(' ', '-')}.requests", lines)
    server_before, clients_before = serve.cpu_seconds(), sum(cpu.seconds(pid) for pid in clients)
    result = await wrk.run(serve.url, file, threads=2, connections=args.connections, limit_seconds=300)
    file.unlink()
    figures = result.as_dict()
    figures["server_cpu_ms_per_request"] = round(1000 * (serve.cpu_seconds() - server_before) / result.requests, 3)
    figures["clients_cpu_s"] = round(sum(cpu.seconds(pid) for pid in clients) - clients_before, 2)
    print(f"  {label}: {figures['requests']} requests in {figures['seconds']}s = {figures['requests_per_s']}/s,"
          f" p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, errors {figures['errors']}; server CPU"
          f" {figures['server_cpu_ms_per_request']} ms/request, stream clients' CPU {figures['clients_cpu_s']}s",
          flush=True)
    return figures


async def final_state(session: aiohttp.ClientSession, serve: Process, token: str, event: str) -> list[Any]:
    async with session.get(f"{serve.url}/v1/events/{event}", headers={"Authorization": f"Bearer {token}"}) as r:
        body = await r.json()
    return [body["available_slots"], body["waitlist_length"], body["status"]]


async def run(args: argparse.Namespace, platform: Platform) -> dict[str, Any]:
    serve = await platform.start_serve()
    workdir = platform.logs_dir
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        people = Population(session, serve.url, platform.issuer)
        admin = await people.token("organizer@bench.test")
        org_id = (await people.sign_up(admin))["memberships"][0]["org_id"]
        emails = [f"user{i}@bench.test" for i in range(args.flash_requests)]
        await people.users(emails)
        viewers = await people.users([f"viewer{i}@bench.test" for i in range(args.viewers)])
        base_event, live_event = [await people.event(admin, org_id, args.flash_slots, f"flash {n}")
                                  for n in ("baseline", "live")]
        quiet = await people.events(admin, org_id, args.quiet_events, 50, "quiet")
        base_tokens, live_tokens = await people.tokens(emails), await people.tokens(emails)
        stream_tokens = await people.tokens(emails[:args.user_streams])  # not the booking ones: those stay fresh
    print(f"setup: {args.flash_requests} users, {args.quiet_events + 2} events", flush=True)

    result: dict[str, Any] = {"streams_requested": args.streams, "clients": args.clients}
    result["baseline"] = await flash(serve, base_event, base_tokens, args, workdir, "flash sale, no streams")
    await asyncio.sleep(args.settle)
    result["rss_mb_without_streams"] = rss_mb(serve.popen.pid)

    watchers = args.streams - args.user_streams
    streams = [("/v1/me/live", t) for t in stream_tokens]
    streams += [(f"/v1/events/{live_event}/live", viewers[i % len(viewers)]) for i in range(args.flash_watchers)]
    streams += [(f"/v1/events/{quiet[i % len(quiet)]}/live", viewers[i % len(viewers)])
                for i in range(watchers - args.flash_watchers)]
    clients = Clients()
    try:
        started = time.perf_counter()
        result["streams_open"] = await clients.start(serve.url, streams, args.clients, workdir)
        print(f"streams: {result['streams_open']} open in {time.perf_counter() - started:.1f}s", flush=True)
        await asyncio.sleep(args.settle)
        result["rss_mb_with_streams"] = rss_mb(serve.popen.pid)
        await clients.ask("reset")
        result["with_streams"] = await flash(serve, live_event, live_tokens, args, workdir, "flash sale, streams open",
                                             tuple(p.pid for p in clients.procs))
        async with aiohttp.ClientSession() as session:
            expected = await final_state(session, serve, admin, live_event)
        deadline = time.monotonic() + 30
        while True:  # pushes trail the last response by at most the fan-out's interval: wait, generously
            report = await clients.report()
            states = report["states"].get(live_event, [])
            behind = sum(1 for s in states if s != expected) + args.flash_watchers - len(states)
            if not behind or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        result["rss_mb_after_sale"] = rss_mb(serve.popen.pid)
    finally:
        await clients.stop()
    lat = report["latencies_ms"]
    result["push"] = {"messages": len(lat), "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
                      "max_ms": round(max(lat), 1) if lat else 0.0,
                      "mean_ms": round(statistics.fmean(lat), 1) if lat else 0.0}
    result["flash_watchers_behind_final_state"] = behind
    result["final_state"] = expected
    result["stream_errors"], result["streams_ended_early"] = report["errors"], report["ended"]
    check = platform.happening("check-invariants")
    result["invariants"] = check.stdout.strip().splitlines()[-1:]
    result["invariants_ok"] = check.returncode == 0
    return result


def summary(r: dict[str, Any]) -> str:
    base, live = r["baseline"]["requests_per_s"], r["with_streams"]["requests_per_s"]
    return "\n".join([
        f"server RSS: {r['rss_mb_without_streams']} MB without streams, {r['rss_mb_with_streams']} MB with"
        f" {r['streams_open']} streams, {r['rss_mb_after_sale']} MB after the sale",
        f"push latency (commit -> client), {r['push']['messages']} messages: p50 {r['push']['p50_ms']} ms,"
        f" p99 {r['push']['p99_ms']} ms, max {r['push']['max_ms']} ms",
        f"flash sale: {base}/s without streams, {live}/s with streams ({round(100 * live / max(base, 1))}%)",
        f"streams of the sale's event behind its final state {r['final_state']}:"
        f" {r['flash_watchers_behind_final_state']}; stream errors {r['stream_errors']},"
        f" ended early {r['streams_ended_early']}; invariants: {' '.join(r['invariants'])}"])


def problems(r: dict[str, Any]) -> list[str]:
    found = []
    if r["flash_watchers_behind_final_state"] or r["stream_errors"] or r["streams_ended_early"]:
        found.append("a stream missed the final state, failed or ended")
    if r["streams_open"] != r["streams_requested"]:
        found.append(f"{r['streams_open']} of {r['streams_requested']} streams opened")
    if not r["invariants_ok"]:
        found.append(f"invariants: {r['invariants']}")
    for side in ("baseline", "with_streams"):
        if not r[side]["complete"] or r[side]["errors"]:
            found.append(f"{side}: complete={r[side]['complete']} errors={r[side]['errors']}")
    return found


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.stream_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small counts; correctness only")
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--user-streams", type=int, default=1_000, help="GET /v1/me/live of the sale's bookers")
    parser.add_argument("--flash-watchers", type=int, default=1_000, help="streams of the sale's event")
    parser.add_argument("--quiet-events", type=int, default=300, help="other events the other streams watch")
    parser.add_argument("--viewers", type=int, default=100, help="users whose tokens open the event streams")
    parser.add_argument("--clients", type=int, default=4, help="stream-holding processes")
    parser.add_argument("--flash-requests", type=int, default=10_000)
    parser.add_argument("--flash-slots", type=int, default=500)
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of quiet before each RSS reading")
    args = parser.parse_args(argv)
    if args.smoke:
        args.streams, args.user_streams, args.flash_watchers, args.quiet_events = 200, 40, 40, 5
        args.viewers, args.clients, args.flash_requests, args.flash_slots = 5, 2, 200, 50
        args.connections, args.settle = 16, 0.5
    return args


async def amain(argv: list[str] | None = None) -> int:
    args = parse(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the server and the clients
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-smoke" if args.smoke else "")
    platform = Platform(logs_dir=RESULTS / f"stream-bench-{stamp}", extra_env=BULK_SETUP)
    return await run_and_report(platform, lambda p: run(args, p), problems, summary,
                                (RESULTS / f"stream-bench-{stamp}.json",))


def main() -> None:
    import uvloop
    sys.exit(uvloop.run(amain()))


if __name__ == "__main__":
    main()
