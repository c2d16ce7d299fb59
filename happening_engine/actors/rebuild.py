"""Redis is a cache of PostgreSQL: an event's seat keys are rebuilt from the truth on activation,
when the actor marked them stale (a failed write, a Redis fault) and when a script finds them missing."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..metrics import REBUILDS
from ..seats import WaitEntry
from ..store.booking_rows import Counters
from ..store.bookings import seat_state
from ..store.event_changes import load_event

if TYPE_CHECKING:
    from .actor import Actor


async def rebuild_seats(actor: Actor, reason: str) -> None:
    """Make Redis equal PostgreSQL for the actor's event (reloading the event's row), and clear its staleness."""
    async with actor.ctx.pool.acquire() as conn:
        actor.event = ev = await load_event(conn, actor.event_id)
        if ev is None:
            actor.stale = False
            return
        confirmed, waiting, active = await seat_state(conn, actor.event_id)
    seq = max([ev["last_waiting_number"], *(r["waiting_number"] for r in waiting)])
    written = await actor.ctx.seats.rebuild(
        actor.event_id, ev["total_slots"], ev["total_slots"] - confirmed, seq,
        [WaitEntry(r["id"], r["user_id"], r["seats"]) for r in waiting],
        {r["user_id"]: r["id"] for r in active})
    if not written:  # a newer owner wrote the keys: this engine steps down (the fence is lost), nothing to announce
        actor.log.warning("seat_cache_rebuild_fenced", reason=reason)
        return
    actor.stale = False
    REBUILDS.labels(reason).inc()
    if reason in ("write_failed", "stale"):  # streams may have seen a state that was never committed
        actor.publish_live(Counters(ev["total_slots"], ev["total_slots"] - confirmed, len(waiting)), moved=True)
    (actor.log.debug if reason == "activation" else actor.log.info)(
        "seat_cache_rebuilt", reason=reason, confirmed=confirmed, waiting=len(waiting))
