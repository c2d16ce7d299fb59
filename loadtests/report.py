"""The benchmarks' short Markdown tables (the JSON files hold everything), and their percentile."""
from __future__ import annotations

from typing import Any

HEADER = ("| scenario | system | requests | bookings/s | p50 ms | p95 ms | p99 ms | errors | server CPU | load avg"
          " | notifications delivered after |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def markdown(result: dict[str, Any]) -> str:
    rows = []
    for side, label in (("engine", "Happening"), ("baseline", "SELECT … FOR UPDATE")):
        for name, f in result.get(side, {}).items():
            rows.append(f"| {name} | {label} | {f['requests']} | {f['requests_per_s']} | {f['p50_ms']:.1f}"
                        f" | {f['p95_ms']:.1f} | {f['p99_ms']:.1f} | {f['errors']} | {f['server_cpu_percent']}%"
                        f" | {f.get('load_average_1m_after', '-')}"
                        f" | {f.get('notifications_delivered_after_s', '-')} s |")
    lines = [HEADER + "\n".join(rows), ""]
    for side, label in (("engine", "Happening"), ("baseline", "baseline")):
        for name, f in result.get(side, {}).items():
            spent = ", ".join(f"{role} {ms:.2f}" for role, ms in f.get("cpu_ms_per_request", {}).items())
            lines.append(f"- {name}, {label}: machine {f.get('machine_busy_percent', '-')}% busy;"
                         f" CPU ms per request: {spent}")
    for name, ratio in result.get("ratio", {}).items():
        lines.append(f"- {name}: Happening / baseline = **{ratio}x**")
    inv = result["invariants"]
    lines.append(f"- invariants after the load: {'hold' if inv['ok'] else 'VIOLATED'}"
                 f" ({inv['pending_notifications']} notifications pending)")
    lines.append(f"- {result['cores']} cores shared by wrk ({result['threads']} threads,"
                 f" {result['connections']} connections, {result.get('tokens', 'fresh')} tokens),"
                 " PostgreSQL, Redis, RabbitMQ and the server;"
                 " `happening serve` runs API and engine in one process, outbox relay and notification worker in a"
                 " second")
    return "\n".join(lines) + "\n"
