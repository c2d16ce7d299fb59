"""Where an event stands on its timeline: time moves published events on without a request."""
from __future__ import annotations

from datetime import datetime

MOVING = ("upcoming", "ongoing")


def status_at(status: str, starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    """The status an event has at `now`: draft and cancelled stay; published ones follow the clock."""
    if status not in MOVING:
        return status
    if now >= ends_at:
        return "completed"
    if now >= starts_at:
        return "ongoing"
    return "upcoming"
