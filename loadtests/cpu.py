"""Where a run's CPU went: every process's user + system time from /proc (Linux), before and after.

Grouped by role: the processes the caller names (say `happening serve`: API and engine, and its
children: the outbox relay and notification worker), PostgreSQL, RabbitMQ, Redis, wrk, and
everything else. A process
started during the run counts from zero; one that ended before the second snapshot is missed (the
caller adds wrk's own figure).
"""
from __future__ import annotations

import os
from pathlib import Path

ROLES = {"postgres": "postgresql", "beam.smp": "rabbitmq", "redis-server": "redis", "wrk": "wrk"}


def read(pid: int) -> tuple[str, int, int]:
    """(command name, parent pid, user + system CPU clock ticks so far) of `pid`; OSError once it ended."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return name, int(fields[1]), int(fields[11]) + int(fields[12])


def seconds(pid: int) -> float:
    """User + system CPU time `pid` used so far."""
    return read(pid)[2] / os.sysconf("SC_CLK_TCK")


def schedstat(pid: int) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) of `pid`'s main thread so far, or None
    where the kernel keeps no scheduler statistics. Tells a loop that is short of CPU (waiting) from
    one that waits on I/O (neither running nor waiting)."""
    try:
        running, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return None
    return int(running) / 1e9, int(waiting) / 1e9


def snapshot() -> dict[int, tuple[str, int, int]]:
    """pid -> `read(pid)`, for every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = read(int(entry.name))
            except OSError:
                continue  # ended meanwhile
    return found


def breakdown(before: dict[int, tuple[str, int, int]], after: dict[int, tuple[str, int, int]],
              roles: dict[int, str], child_roles: dict[int, str]) -> dict[str, float]:
    """CPU seconds per role between the two snapshots, largest first. `roles` names processes by
    pid, `child_roles` names the children of a pid; the rest go by their command name."""
    tick = os.sysconf("SC_CLK_TCK")
    spent: dict[str, float] = {}
    for pid, (name, parent, ticks) in after.items():
        old = before.get(pid)  # by pid alone: kernel workers change their name with their work
        used = ticks - (old[2] if old is not None else 0)
        role = roles.get(pid) or child_roles.get(parent) or ROLES.get(name, "other")
        spent[role] = spent.get(role, 0.0) + used / tick
    return dict(sorted(((r, round(s, 2)) for r, s in spent.items() if s > 0), key=lambda i: -i[1]))
