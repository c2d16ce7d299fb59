"""What `lua/decide.lua` and `lua/capacity.lua` answer, read into typed outcomes: the scripts reply
with positional lists, and these types name what each reply means."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Op(StrEnum):
    """What `lua/decide.lua` does with one command."""

    BOOK = "B"
    CANCEL = "C"


@dataclass(frozen=True, slots=True)
class Confirmed:
    """Booked: nobody waited and the seats fit."""


@dataclass(slots=True)  # not frozen: made per booking, and a frozen __init__ costs more
class Waiting:
    """Booked on the waitlist: `number` is its waiting number, `position` its place in the line."""

    number: int
    position: int


@dataclass(slots=True)  # not frozen: made per booking, and a frozen __init__ costs more
class Duplicate:
    """Refused: the user already holds `booking_id` (active) for this event."""

    booking_id: str


@dataclass(slots=True)  # not frozen: made per booking, and a frozen __init__ costs more
class Cancelled:
    """Cancelled from `previous` ("confirmed" or "waiting"); `promoted`: the waitlist entries that got seats."""

    previous: str
    promoted: list[str]


@dataclass(frozen=True, slots=True)
class NotActive:
    """Refused: the booking is no longer active."""


@dataclass(frozen=True, slots=True)
class Resized:
    """A capacity change applied; `promoted`: the waitlist entries that got seats."""

    promoted: list[str]


@dataclass(frozen=True, slots=True)
class Refused:
    """A capacity change refused: it would fall below the `confirmed` seats."""

    confirmed: int


@dataclass(frozen=True, slots=True)
class NeedsRebuild:
    """The event's keys are missing or not intact: rebuild them from PostgreSQL, then decide again."""


# the outcomes without fields are shared, so reading a reply allocates only for those with fields
CONFIRMED, NOT_ACTIVE, NEEDS_REBUILD = Confirmed(), NotActive(), NeedsRebuild()
BookOutcome = Confirmed | Waiting | Duplicate
CancelOutcome = Cancelled | NotActive
CapacityOutcome = Resized | Refused | NeedsRebuild


def needs_rebuild(replies: list[list[Any]]) -> bool:
    """Whether a batch's script reply says the keys must be rebuilt (then nothing was decided)."""
    return not replies or replies[0][0] == "REBUILD"


def book_outcome(reply: list[Any]) -> BookOutcome:
    kind = reply[0]
    if kind == "CONFIRMED":
        return CONFIRMED  # the seats left after it (reply[1]) are not needed
    if kind == "WAITING":
        return Waiting(int(reply[1]), int(reply[2]))
    if kind == "DUPLICATE":
        return Duplicate(reply[1])
    raise ValueError(f"unexpected reply to a booking: {reply!r}")


def cancel_outcome(reply: list[Any]) -> CancelOutcome:
    return NOT_ACTIVE if reply[0] == "NOT_ACTIVE" else Cancelled(reply[0], reply[1:])


def capacity_outcome(reply: list[Any]) -> CapacityOutcome:
    kind = reply[0]
    if kind == "REBUILD":
        return NEEDS_REBUILD
    if kind == "REFUSED":
        return Refused(int(reply[1]))
    return Resized(reply[1:])
