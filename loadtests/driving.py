"""One timed wrk run of a scenario against a target (one process, or a split layout's APIs and engines),
with where the machine's CPU went; scenarios in turn, each once the notifications of the one before
were delivered. Shared by `loadtests.bench` (`happening serve` and the baseline) and `loadtests.split_bench`.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from . import cpu, wrk
from .population import Population, bounded
from .processes import Platform, Process


@dataclass(frozen=True)
class Scenario:
    name: str
    requests: int
    events: int
    slots: int


@dataclass
class Target:
    """What a run drives and measures: `apis` take wrk's requests (its threads spread over them), `engines`
    hold the actors whose batch metrics are read; `roles` name processes (by pid) in the CPU breakdown,
    `child_roles` the children of a pid."""

    name: str
    apis: list[Process]
    engines: list[Process]
    roles: dict[int, str]
    child_roles: dict[int, str] = field(default_factory=dict)

    @classmethod
    def single(cls, name: str, process: Process, role: str, children: str | None = None) -> Target:
        """One process serving HTTP and running its engine (or the baseline's SQL)."""
        return cls(name, [process], [process], {process.popen.pid: role},
                   {process.popen.pid: children} if children else {})

    @property
    def measured(self) -> list[Process]:
        """The server processes whose CPU is the "server CPU" (each once)."""
        return list({p.popen.pid: p for p in [*self.apis, *self.engines]}.values())


def request_lines(scenario: Scenario, events: list[str], tokens: list[str], path: str) -> list[tuple[str, str]]:
    """Request j: user j books event j mod E (consecutive requests hit different events in the mix)."""
    return [(path.format(event=events[j % len(events)]), tokens[j]) for j in range(scenario.requests)]


async def drive(target: Target, scenario: Scenario, events: list[str], tokens: list[str], path: str,
                workdir: Path, args: argparse.Namespace, label: str) -> dict[str, Any]:
    """One wrk run against `target`, with the servers' CPU use over the run and where the machine's
    CPU went (`cpu.breakdown` with the target's roles)."""
    if args.seen_tokens:  # each user opened a page just before (not timed): the server remembers the token
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            for api in target.apis:
                await bounded(tokens, Population(session, api.url, "").sign_up)
    file = wrk.write_requests(workdir / f"{label}.requests", request_lines(scenario, events, tokens, path))
    metrics_before = await engine_metrics(target.engines)
    procs_before = cpu.snapshot()
    single = target.measured[0].popen.pid if len(target.measured) == 1 else None
    sched_before = cpu.schedstat(single) if single else None
    cpu_before, wall_before = sum(p.cpu_seconds() for p in target.measured), time.perf_counter()
    result = await wrk.run([api.url for api in target.apis], file, threads=args.threads,
                           connections=args.connections, limit_seconds=args.limit_seconds)
    wall = time.perf_counter() - wall_before
    sched_after = cpu.schedstat(single) if single else None
    spent = cpu.breakdown(procs_before, cpu.snapshot(), target.roles, target.child_roles)
    spent["wrk"] = result.wrk_cpu_seconds  # it exited before the second snapshot
    file.unlink()
    figures = result.as_dict()
    used = sum(p.cpu_seconds() for p in target.measured) - cpu_before
    figures["server_cpu_percent"] = round(100 * used / wall)
    figures["server_cpu_ms_per_request"] = round(1000 * used / max(result.requests, 1), 2)
    figures["cpu_ms_per_request"] = {role: round(1000 * s / max(result.requests, 1), 3)
                                     for role, s in sorted(spent.items(), key=lambda i: -i[1])}
    figures["machine_busy_percent"] = round(100 * sum(spent.values()) / (wall * (os.cpu_count() or 1)))
    figures["load_average_1m_after"] = round(os.getloadavg()[0], 2)  # > cores: something else ran too
    if sched_before and sched_after:  # the server's event loop: short of CPU, or waiting on I/O?
        figures["server_loop_running_percent"] = round(100 * (sched_after[0] - sched_before[0]) / wall)
        figures["server_loop_waiting_for_cpu_percent"] = round(100 * (sched_after[1] - sched_before[1]) / wall)
    metrics = {k: v - metrics_before.get(k, 0.0) for k, v in (await engine_metrics(target.engines)).items()}
    if metrics.get("happening_actor_batch_size_count"):
        figures["mean_actor_batch"] = round(metrics["happening_actor_batch_size_sum"]
                                            / metrics["happening_actor_batch_size_count"], 1)
        figures["actor_batches"] = int(metrics["happening_actor_batch_size_count"])
    if metrics.get("happening_engine_commands_per_message_count"):  # the split layout's command messages
        figures["mean_commands_per_message"] = round(metrics["happening_engine_commands_per_message_sum"]
                                                     / metrics["happening_engine_commands_per_message_count"], 1)
    if metrics.get("happening_cache_rebuilds_total"):
        figures["cache_rebuilds"] = int(metrics["happening_cache_rebuilds_total"])
    _print(label, figures)
    return figures


def _print(label: str, figures: dict[str, Any]) -> None:
    per_message = figures.get("mean_commands_per_message")
    print(f"  {label}: {figures['requests']} requests in {figures['seconds']}s = {figures['requests_per_s']}/s,"
          f" p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms,"
          f" 201 {figures['created_201']}, 409 {figures['conflicts_409']}, errors {figures['errors']},"
          f" server CPU {figures['server_cpu_percent']}% ({figures['server_cpu_ms_per_request']} ms/request),"
          f" wrk CPU {figures['wrk_cpu_seconds']}s, mean actor batch {figures.get('mean_actor_batch', '-')},"
          + (f" commands per message {per_message}," if per_message else "")
          + f" load average {figures['load_average_1m_after']}", flush=True)
    loop = (f"; server loop running {figures['server_loop_running_percent']}%, waiting for a CPU"
            f" {figures['server_loop_waiting_for_cpu_percent']}%" if "server_loop_running_percent" in figures else "")
    print(f"    machine {figures['machine_busy_percent']}% busy; CPU ms per request: "
          + ", ".join(f"{role} {ms}" for role, ms in figures["cpu_ms_per_request"].items()) + loop, flush=True)


async def engine_metrics(processes: list[Process]) -> dict[str, float]:
    """Actor batch sizes and cache rebuilds so far, from the processes' /metrics (summed over labels
    and processes)."""
    wanted = ("happening_actor_batch_size_sum", "happening_actor_batch_size_count",
              "happening_cache_rebuilds_total", "happening_engine_commands_per_message_sum",
              "happening_engine_commands_per_message_count")
    found: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        for process in processes:
            async with session.get(f"{process.url}/metrics") as response:
                text = await response.text()
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


async def invariants(platform: Platform) -> dict[str, Any]:
    """`happening check-invariants` and the notifications left pending, as the result records them."""
    left = await platform.pending_notifications()
    check = platform.happening("check-invariants")
    print(f"outbox: {left} notification(s) pending; check-invariants: {check.stdout.strip()}", flush=True)
    return {"ok": check.returncode == 0 and left == 0, "pending_notifications": left,
            "output": check.stdout.strip().splitlines()}
