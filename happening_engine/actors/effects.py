"""What a booking change writes besides the booking itself: its history row, its booker's notification
(the outbox) and its audit row. One builder, so that a batch, a capacity raise and an event's
cancellation or closing write the same rows the same way."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ..commands import Book
from ..metrics import OUTCOMES
from ..seats import WaitEntry
from ..store.booking_rows import AuditRow, BatchWrite, BookingRow, HistoryRow, NotificationRow
from ..values import json_value
from . import messages
from .outcomes import Cancelled, Confirmed, Waiting


class Effects:
    """The rows of booking changes of one event, as its row was when this was made (the actor makes a
    new one whenever its event changes)."""

    __slots__ = ("event", "starts_at")

    def __init__(self, event: asyncpg.Record) -> None:
        self.event = event
        self.starts_at = json_value(event["starts_at"])  # formatted once, not once per notification

    def notify(self, write: BatchWrite, user_id: UUID, booking_id: UUID, kind: str, seats: int,
               waiting_number: int | None = None, position: int | None = None, *,
               changed: list[str] | None = None, reason: str | None = None) -> None:
        """Queue a notification of `kind` to the booker (also alone: an event's update tells every booker)."""
        payload: dict[str, Any] = {"event_name": self.event["name"], "starts_at": self.starts_at, "seats": seats,
                                   "waiting_number": waiting_number, "position": position}
        if changed is not None:
            payload["changed"] = changed
        if reason is not None:
            payload["reason"] = reason
        write.notifications.append(NotificationRow(
            user_id, booking_id, kind, messages.one_line(kind, self.event, seats, position, changed, reason), payload))

    def record(self, write: BatchWrite, booking_id: UUID, user_id: UUID, actor_id: UUID | None, action: str,
               details: dict[str, Any], kind: str, seats: int, before: dict[str, Any] | None,
               after: dict[str, Any], now: datetime, waiting_number: int | None = None,
               position: int | None = None, reason: str | None = None) -> None:
        """Append the three rows of one booking change: history (`action`, `details`), the booker's
        notification of `kind`, and the audit row (`actor_id` made the change, `before` -> `after`)."""
        write.history.append(HistoryRow(booking_id, action, details, now))
        self.notify(write, user_id, booking_id, kind, seats, waiting_number, position, reason=reason)
        write.audit.append(AuditRow(write.org_id, actor_id, "booking", booking_id, action, before, after))

    def booked(self, write: BatchWrite, cmd: Book, booking_id: UUID, outcome: Confirmed | Waiting,
               now: datetime) -> BookingRow:
        """A new booking, confirmed or waiting; returns its row."""
        if isinstance(outcome, Waiting):
            status, waiting_number, position = "waiting", outcome.number, outcome.position
        else:
            status, waiting_number, position = "confirmed", None, None
        row = BookingRow(booking_id, cmd.user_id, cmd.seats, status, waiting_number,
                         now if status == "confirmed" else None, None, now, now, new=True,
                         request_id=cmd.request_id)
        write.bookings[booking_id] = row
        if waiting_number is not None:
            write.last_waiting_number = waiting_number
            write.waiting_delta += 1
        else:
            write.confirmed_delta += cmd.seats
        self.record(write, booking_id, cmd.user_id, cmd.user_id, "created",
                    {"status": status, "seats": cmd.seats, "waiting_number": waiting_number, "position": position},
                    "booking_confirmed" if status == "confirmed" else "booking_waitlisted", cmd.seats, None,
                    {"status": status, "seats": cmd.seats, "waiting_number": waiting_number}, now, waiting_number,
                    position)
        return row

    def cancelled(self, write: BatchWrite, row: asyncpg.Record, outcome: Cancelled, actor_id: UUID | None,
                  now: datetime) -> BookingRow:
        """A booking cancelled by its booker (or an organizer), and the waitlist it moved; returns its row."""
        current = write.bookings.get(row["id"])
        booking = BookingRow(row["id"], row["user_id"], row["seats"], "cancelled", None, None, now,
                             row["created_at"], now)
        if current is not None:
            booking.new = current.new
        write.bookings[row["id"]] = booking
        if outcome.previous == "confirmed":
            write.confirmed_delta -= row["seats"]
        else:
            write.waiting_delta -= 1
        self.record(write, row["id"], row["user_id"], actor_id, "cancelled",
                    {"previous_status": outcome.previous, "by": json_value(actor_id)}, "booking_cancelled",
                    row["seats"], {"status": outcome.previous}, {"status": "cancelled"}, now)
        self.promoted(write, outcome.promoted, now, cause="cancellation", actor_id=actor_id)
        return booking

    def dropped(self, write: BatchWrite, booking: asyncpg.Record, reason: str, actor_id: UUID | None,
                now: datetime) -> None:
        """A booking the event took away (`reason`: it was cancelled, its waitlist closed), already
        cancelled in PostgreSQL by the caller."""
        previous = booking["previous_status"]
        self.record(write, booking["id"], booking["user_id"], actor_id, "cancelled",
                    {"previous_status": previous, "reason": reason}, "booking_cancelled", booking["seats"],
                    {"status": previous}, {"status": "cancelled"}, now, reason=reason)

    def promoted(self, write: BatchWrite, entries: list[str], now: datetime, cause: str,
                 actor_id: UUID | None) -> None:
        """Record the promotion of waitlist `entries`; `actor_id` made the change that freed the seats."""
        for raw in entries:
            entry = WaitEntry.parse(raw)
            write.waiting_delta -= 1
            write.confirmed_delta += entry.seats
            row = write.bookings.get(entry.booking_id)
            if row is None:  # waiting since an earlier batch: only its new state is written
                row = BookingRow(entry.booking_id, entry.user_id, entry.seats, "confirmed", None, now, None,
                                 now, now)
                write.bookings[entry.booking_id] = row
            else:
                row.status, row.waiting_number, row.confirmed_at, row.updated_at = "confirmed", None, now, now
            self.record(write, entry.booking_id, entry.user_id, actor_id, "promoted",
                        {"seats": entry.seats, "cause": cause}, "waitlist_promoted", entry.seats,
                        {"status": "waiting"}, {"status": "confirmed"}, now)
            OUTCOMES["promoted"].inc()
