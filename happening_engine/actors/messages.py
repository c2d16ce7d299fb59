"""One-line notification messages, written with the change (the worker words the full mail, `worker/wording.py`)."""
from __future__ import annotations

import functools
from datetime import datetime
from typing import Any


@functools.lru_cache(maxsize=4096)
def _when(starts_at: datetime) -> str:
    return starts_at.strftime("%Y-%m-%d %H:%M UTC")  # once per event, not once per booking


CHANGE_WORDS = {"name": "name", "description": "description", "category": "category", "starts_at": "start time",
                "ends_at": "end time", "total_slots": "capacity", "max_seats_per_booking": "seats per booking",
                "visibility": "visibility"}


def one_line(kind: str, event: Any, seats: int, position: int | None, changed: list[str] | None = None,
             reason: str | None = None) -> str:
    """The notification's one-line message (its row's `message`) for a change of `kind`."""
    name, when = event["name"], _when(event["starts_at"])
    plural = "seat" if seats == 1 else "seats"
    if kind == "booking_confirmed":
        return f"Your booking of {seats} {plural} for {name} on {when} is confirmed."
    if kind == "booking_waitlisted":
        return f"{name} on {when} is full: you are number {position} on the waitlist for {seats} {plural}."
    if kind == "waitlist_promoted":
        return f"Good news: your {seats} {plural} for {name} on {when} are now confirmed."
    if kind == "booking_cancelled" and reason == "waitlist_closed":
        return (f"{name} started on {when} before a place came free: the waitlist is closed and your request"
                f" for {seats} {plural} is cancelled.")
    if kind == "booking_cancelled":
        return f"Your booking of {seats} {plural} for {name} on {when} has been cancelled."
    if kind == "event_updated":
        what = ", ".join(CHANGE_WORDS.get(c, c) for c in changed or ()) or "details"
        return f"{name} on {when} has been updated ({what})."
    raise ValueError(f"unknown notification type {kind}")
