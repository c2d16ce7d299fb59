"""One-line notification messages, written with the change (the worker renders the full mail)."""
from __future__ import annotations

from typing import Any


def render(kind: str, event: Any, seats: int, position: int | None) -> str:
    name, when = event["name"], event["starts_at"].strftime("%Y-%m-%d %H:%M UTC")
    plural = "seat" if seats == 1 else "seats"
    if kind == "booking_confirmed":
        return f"Your booking of {seats} {plural} for {name} on {when} is confirmed."
    if kind == "booking_waitlisted":
        return f"{name} on {when} is full: you are number {position} on the waitlist for {seats} {plural}."
    if kind == "waitlist_promoted":
        return f"Good news: your {seats} {plural} for {name} on {when} are now confirmed."
    if kind == "booking_cancelled":
        return f"Your booking of {seats} {plural} for {name} on {when} has been cancelled."
    if kind == "event_updated":
        return f"{name} has been updated: it now starts {when}."
    raise ValueError(f"unknown notification type {kind}")
