"""Subject and text of each notification type, from the row, its `payload` and its event.

Payload keys read (all optional; the event's own row fills in name and dates): `event_name`,
`starts_at`, `seats`, `position`, `waiting_number`, `reason`, `changes` (mapping of field to new
value) or `changed` (list of field names), `status`, `org_name`, `role`, `invite_url`, `token`, `expires_at`,
`full_name`. The row's `message` (written with the change) is always part of the body.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Rendered:
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


def render(row: Mapping[str, Any] | asyncpg.Record, invite_url: str | None = None) -> Rendered:
    """Render one claimed notification row (joined with its event's name and start); `invite_url`:
    an invite's link, built by the worker from its sealed token."""
    p: Mapping[str, Any] = row.get("payload") or {}
    event = p.get("event_name") or row.get("event_name") or "your event"
    when = _when(p.get("starts_at") or row.get("event_starts_at"))
    on = f" on {when}" if when else ""
    seats = p.get("seats")
    position = p.get("position")
    kind = row["type"]
    lines: list[str] = []

    if kind == "booking_confirmed":
        subject = f"Booking confirmed: {event}{on}"
        lines.append(f"Your booking for {event}{on} is confirmed" + (f": {_seats(seats)}." if seats else "."))
    elif kind == "booking_waitlisted":
        subject = f"You are on the waitlist for {event}"
        detail = [f"position {position}" if position else "", f"waiting number {p['waiting_number']}"
                  if p.get("waiting_number") else "", f"for {_seats(seats)}" if seats else ""]
        lines.append(f"{event}{on} is full, so you joined its waitlist ({', '.join(d for d in detail if d)})."
                     if any(detail) else f"{event}{on} is full, so you joined its waitlist.")
        lines.append("We will email you as soon as your seats are confirmed.")
    elif kind == "booking_cancelled":
        subject = f"Booking cancelled: {event}"
        lines.append(f"Your booking for {event}{on}" + (f" ({_seats(seats)})" if seats else "") + " was cancelled.")
        if p.get("reason"):
            lines.append(f"Reason: {str(p['reason']).replace('_', ' ')}.")
    elif kind == "waitlist_promoted":
        subject = f"Your seats for {event} are confirmed"
        lines.append(f"Good news: seats freed up and your booking for {event}{on} moved off the waitlist"
                     + (f"; {_seats(seats)} are now confirmed." if seats else " and is now confirmed."))
    elif kind == "event_updated":
        cancelled = p.get("status") == "cancelled"
        subject = f"Event cancelled: {event}" if cancelled else f"Event updated: {event}"
        lines.append(f"{event} has been cancelled." if cancelled else f"{event}{on} has been updated.")
        changes = p.get("changes") or p.get("changed")
        if isinstance(changes, Mapping) and changes:
            lines.extend(f"- {k.replace('_', ' ')}: {_when(v) or v}" for k, v in changes.items())
        elif isinstance(changes, list) and changes:
            lines.append("Changed: " + ", ".join(str(c).replace("_", " ") for c in changes) + ".")
    elif kind == "org_invite":
        org = p.get("org_name") or row.get("org_name") or "an organization"
        role = p.get("role")
        subject = f"You are invited to join {org} on Happening"
        lines.append(f"You have been invited to join {org}" + (f" as {role}." if role else "."))
        if invite_url or p.get("invite_url"):
            lines.append(f"Accept the invitation: {invite_url or p['invite_url']}")
        elif not p.get("token"):
            lines.append("Ask the person who invited you for the invitation link.")
        if p.get("token"):
            lines.append(f"Invitation token: {p['token']}")
        if p.get("expires_at"):
            lines.append(f"The invitation expires {_when(p['expires_at'])}.")
    else:
        subject = f"Happening: {kind.replace('_', ' ')}"

    message = (row.get("message") or "").strip()
    if message and message not in lines:
        lines.insert(0, message)
    name = p.get("full_name") or row.get("user_name")
    text = (f"Hi {name},\n\n" if name else "Hello,\n\n") + "\n".join(lines) + "\n\n-- Happening\n"
    short = f"{subject}. {lines[-1] if not message else message}"
    return Rendered(subject=subject, text=text, short=short[:300])
