"""Answering an actor's commands: the booking as the API returns it, each reply given once with its
latency recorded, and the refusal of a command that arrived past its deadline."""
from __future__ import annotations

import functools
import time
from typing import Any
from uuid import UUID

import structlog
from prometheus_client import Histogram

from ..errors import Expired
from ..metrics import COMMAND_SECONDS, EXPIRED
from ..store.booking_rows import BookingRow
from ..values import booking_fields
from .mailbox import Envelope

log = structlog.get_logger(__name__)
STORAGE_DOWN = "bookings are temporarily unavailable, please retry"


def booking_dict(event_id: UUID | str, row: BookingRow, position: int | None = None,
                 stamp: str | None = None) -> dict[str, Any]:
    """The booking as the API returns it (`values.booking_fields`); `stamp`: created_at = updated_at, already
    formatted."""
    return booking_fields(row.id, event_id, row.user_id, row.seats, row.status, row.waiting_number, position,
                          stamp or row.created_at, stamp or row.updated_at)


def answer(env: Envelope, outcome: Any) -> None:
    """Reply to a command once (a result dict or a DomainError) and record its latency."""
    if env.reply.done():
        return
    if isinstance(outcome, BaseException):
        env.reply.set_exception(outcome)
    else:
        env.reply.set_result(outcome)
    _latency(type(env.command).__name__).observe(time.perf_counter() - env.received)


@functools.cache
def _latency(kind: str) -> Histogram:
    return COMMAND_SECONDS.labels(kind)


def expired(env: Envelope, now: float) -> bool:
    """Past its deadline: the sender has given up (or will have by the time it could commit), so the
    command must have no effect. Answered all the same, for a sender that still listens."""
    if env.deadline is None or env.deadline > now:
        return False
    EXPIRED.labels(type(env.command).__name__).inc()
    log.warning("command_expired", command=type(env.command).__name__, late_seconds=round(now - env.deadline, 3),
                request_id=getattr(env.command, "request_id", None))
    answer(env, Expired("the request reached the booking engine too late and had no effect, please retry"))
    return True
