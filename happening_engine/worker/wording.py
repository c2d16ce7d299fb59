"""Subject and text of each notification type, from the row, its `payload` (all keys optional; the event's
row fills in name and dates) and its event; the row's `message` is always part of the body."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Wording:
    """A notification in words, for every channel."""

    subject: str
    text: str  # the email body
    short: str  # one line for SMS and push


def _when(value: object) -> str | None:
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if isinstance(value, datetime):
        return value.strftime("%a %d %b %Y, %H:%M %Z").strip().rstrip(",")
    return None


def _seats(n: Any) -> str:
    return f"{n} seat" if n == 1 else f"{n} seats"


@dataclass(frozen=True, slots=True)
class _Notice:
    """What each notification type's wording reads: the row, its payload, and its event's name and date."""

    row: Mapping[str, Any] | asyncpg.Record
    p: Mapping[str, Any]
    event: str
    on: str  # " on <date>", or "" when the date is unknown
    seats: Any
    invite_url: str | None


_Parts = tuple[str, list[str]]  # the subject, and the body's lines


def _booking_confirmed(n: _Notice) -> _Parts:
    return (f"Booking confirmed: {n.event}{n.on}",
            [f"Your booking for {n.event}{n.on} is confirmed" + (f": {_seats(n.seats)}." if n.seats else ".")])


def _booking_waitlisted(n: _Notice) -> _Parts:
    position, number = n.p.get("position"), n.p.get("waiting_number")
    detail = [f"position {position}" if position else "", f"waiting number {number}" if number else "",
              f"for {_seats(n.seats)}" if n.seats else ""]
    joined = (f"{n.event}{n.on} is full, so you joined its waitlist ({', '.join(d for d in detail if d)})."
              if any(detail) else f"{n.event}{n.on} is full, so you joined its waitlist.")
    return f"You are on the waitlist for {n.event}", [joined, "We will email you as soon as your seats are confirmed."]


def _booking_cancelled(n: _Notice) -> _Parts:
    lines = [f"Your booking for {n.event}{n.on}" + (f" ({_seats(n.seats)})" if n.seats else "") + " was cancelled."]
    if n.p.get("reason"):
        lines.append(f"Reason: {str(n.p['reason']).replace('_', ' ')}.")
    return f"Booking cancelled: {n.event}", lines


def _waitlist_promoted(n: _Notice) -> _Parts:
    return (f"Your seats for {n.event} are confirmed",
            [f"Good news: seats freed up and your booking for {n.event}{n.on} moved off the waitlist"
             + (f"; {_seats(n.seats)} are now confirmed." if n.seats else " and is now confirmed.")])


def _event_updated(n: _Notice) -> _Parts:
    cancelled = n.p.get("status") == "cancelled"
    subject = f"Event cancelled: {n.event}" if cancelled else f"Event updated: {n.event}"
    lines = [f"{n.event} has been cancelled." if cancelled else f"{n.event}{n.on} has been updated."]
    changes = n.p.get("changes") or n.p.get("changed")
    if isinstance(changes, Mapping) and changes:
        lines.extend(f"- {k.replace('_', ' ')}: {_when(v) or v}" for k, v in changes.items())
    elif isinstance(changes, list) and changes:
        lines.append("Changed: " + ", ".join(str(c).replace("_", " ") for c in changes) + ".")
    return subject, lines


def _org_invite(n: _Notice) -> _Parts:
    p = n.p
    org = p.get("org_name") or n.row.get("org_name") or "an organization"
    role = p.get("role")
    lines = [f"You have been invited to join {org}" + (f" as {role}." if role else ".")]
    if n.invite_url or p.get("invite_url"):
        lines.append(f"Accept the invitation: {n.invite_url or p['invite_url']}")
    elif not p.get("token"):
        lines.append("Ask the person who invited you for the invitation link.")
    if p.get("token"):
        lines.append(f"Invitation token: {p['token']}")
    if p.get("expires_at"):
        lines.append(f"The invitation expires {_when(p['expires_at'])}.")
    return f"You are invited to join {org} on Happening", lines


_PARTS: dict[str, Callable[[_Notice], _Parts]] = {
    "booking_confirmed": _booking_confirmed,
    "booking_waitlisted": _booking_waitlisted,
    "booking_cancelled": _booking_cancelled,
    "waitlist_promoted": _waitlist_promoted,
    "event_updated": _event_updated,
    "org_invite": _org_invite,
}


def wording(row: Mapping[str, Any] | asyncpg.Record, invite_url: str | None = None) -> Wording:
    """The words of one claimed notification row (joined with its event's name and start); `invite_url`:
    an invite's link, built by the worker from its sealed token."""
    p: Mapping[str, Any] = row.get("payload") or {}
    when = _when(p.get("starts_at") or row.get("event_starts_at"))
    notice = _Notice(row, p, p.get("event_name") or row.get("event_name") or "your event",
                     f" on {when}" if when else "", p.get("seats"), invite_url)
    kind = row["type"]
    parts = _PARTS.get(kind)
    subject, lines = parts(notice) if parts else (f"Happening: {kind.replace('_', ' ')}", [])

    message = (row.get("message") or "").strip()
    if message and message not in lines:
        lines.insert(0, message)
    name = p.get("full_name") or row.get("user_name")
    text = (f"Hi {name},\n\n" if name else "Hello,\n\n") + "\n".join(lines) + "\n\n-- Happening\n"
    short = f"{subject}. {lines[-1] if not message else message}"
    return Wording(subject=subject, text=text, short=short[:300])
