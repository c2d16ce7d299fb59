"""The engine's command interface: every change to an event's seats, waitlist, status or capacity is one of
these plain, serializable commands, sent through `client.py` to the event's actor. Results are JSON-ready
dicts (the API returns them as they are); refusals are raised as `errors.DomainError`."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Book:
    """Book `seats` for `user_id`: confirmed if the waitlist is empty and they fit, else waiting.
    `public_only`: no membership was checked, so the actor refuses (`AccessUnchecked`) unless the event is
    public. `request_id` is committed with the booking: the same request again gets it back, not a 409."""

    event_id: UUID
    user_id: UUID
    seats: int
    public_only: bool = False
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelBooking:
    """Cancel an active booking; frees seats or leaves the waitlist, then promotes the head."""

    event_id: UUID
    booking_id: UUID
    actor_id: UUID | None = None  # who asked (owner or organizer), for the history row


@dataclass(frozen=True, slots=True)
class UpdateEvent:
    """Change event fields (name, description, category, starts_at, ends_at, total_slots,
    max_seats_per_booking, visibility). A capacity raise promotes; a lower one below the
    confirmed seats is refused. Active bookers get an `event_updated` notification."""

    event_id: UUID
    changes: dict[str, Any] = field(default_factory=dict)
    actor_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class PublishEvent:
    event_id: UUID
    actor_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class CancelEvent:
    """Cancel the event and every active booking, notifying each booker once."""

    event_id: UUID
    actor_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class AdvanceLifecycle:
    """Move upcoming -> ongoing -> completed when the clock says so (sent by lifecycle.py)."""

    event_id: UUID


Command: TypeAlias = Book | CancelBooking | UpdateEvent | PublishEvent | CancelEvent | AdvanceLifecycle
COMMAND_TYPES: dict[str, type[Command]] = {
    cls.__name__: cls for cls in (Book, CancelBooking, UpdateEvent, PublishEvent, CancelEvent, AdvanceLifecycle)
}


def to_wire(command: Command, deadline: float | None = None) -> dict[str, Any]:
    """A JSON-ready dict for sending a command over RabbitMQ; `deadline` (Unix time) travels with it."""
    body = {k: (str(v) if isinstance(v, UUID) else v) for k, v in dataclasses.asdict(command).items()}
    return {"type": type(command).__name__, "body": body, "deadline": deadline}


def from_wire(data: dict[str, Any]) -> Command:
    cls = COMMAND_TYPES[data["type"]]
    body = dict(data["body"])
    for f in dataclasses.fields(cls):
        if str(f.type).startswith("UUID") and body.get(f.name) is not None:
            body[f.name] = UUID(body[f.name])
    return cls(**body)
