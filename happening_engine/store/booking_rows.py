"""What one actor batch writes, as typed rows: its bookings' new states, their history, the outbox's
notifications and the audit trail, and the counters the write returns (`bookings.py` writes them). The
rows made per booking are not frozen: a frozen dataclass's __init__ costs several times more."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass
class BookingRow:
    """A booking's state after the batch (new rows are inserted, others updated)."""

    id: UUID
    user_id: UUID
    seats: int
    status: str
    waiting_number: int | None
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    new: bool = False
    request_id: str | None = None  # the request that made a new booking (commands.Book.request_id)


@dataclass(slots=True)
class HistoryRow:
    """One `booking_history` row."""

    booking_id: UUID
    action: str
    details: dict[str, Any]
    created_at: datetime


@dataclass(slots=True)
class NotificationRow:
    """One `notifications` row (the outbox) to a user; its org and event are the batch's."""

    user_id: UUID
    booking_id: UUID | None
    type: str
    message: str
    payload: dict[str, Any]


@dataclass(slots=True)
class AuditRow:
    """One `audit_log` row."""

    org_id: UUID
    actor_id: UUID | None
    entity: str
    entity_id: UUID
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass
class BatchWrite:
    """Everything one actor batch changes in PostgreSQL."""

    event_id: UUID
    org_id: UUID
    bookings: dict[UUID, BookingRow] = field(default_factory=dict)
    history: list[HistoryRow] = field(default_factory=list)
    notifications: list[NotificationRow] = field(default_factory=list)
    audit: list[AuditRow] = field(default_factory=list)
    last_waiting_number: int | None = None
    confirmed_delta: int = 0  # change of events.confirmed_seats
    waiting_delta: int = 0  # change of events.waiting_count
    deadline: float | None = None  # the earliest deadline (Unix time) of its commands: commit before it or not at all

    def __bool__(self) -> bool:
        return bool(self.bookings or self.history or self.notifications or self.audit)


@dataclass(frozen=True, slots=True)
class Counters:
    """An event's seat counters as a write committed them (what the live streams show)."""

    total_slots: int
    available_slots: int
    waitlist_length: int
