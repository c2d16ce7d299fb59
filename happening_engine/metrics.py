"""The engine's Prometheus metrics."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BOOKINGS = Counter("happening_bookings_total", "Booking outcomes", ["outcome"])
# children resolved once: labels() is a dict lookup under a lock, too slow for the per-booking path
OUTCOMES = {name: BOOKINGS.labels(name) for name in
            ("confirmed", "waiting", "promoted", "cancelled", "duplicate", "rejected", "failed")}
COMMAND_SECONDS = Histogram("happening_command_seconds", "Time from mailbox to reply, by command",
                            ["command"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
BATCH_SIZE = Histogram("happening_actor_batch_size", "Commands decided and committed together",
                       buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500))
EXPIRED = Counter("happening_commands_expired_total", "Commands dropped unseen: they reached their actor past their"
                  " deadline, when the sender had given up on them", ["command"])
ACTIVE_ACTORS = Gauge("happening_active_actors", "Event actors currently active")
MAILBOX_DEPTH = Gauge("happening_mailbox_depth", "Commands waiting in actor mailboxes")
WAITLIST = Gauge("happening_waitlist_length", "People waiting for a place, per event with an active actor",
                 ["event_id"])
REBUILDS = Counter("happening_cache_rebuilds_total", "Redis seat state rebuilt from PostgreSQL", ["reason"])
COMMITS_BEHIND = Counter("happening_commits_behind_total",
                         "Actor batches written while the event's previous batch was still committing",
                         ["outcome"])  # committed, predecessor_failed, failed


def waitlist_length(event_id: str, waiting: int) -> None:
    """Only events with a waitlist are series (an event's goes at 0 and when its actor retires), so the
    metric grows with queues, not with every event."""
    if waiting > 0:
        WAITLIST.labels(event_id).set(waiting)
    else:
        try:
            WAITLIST.remove(event_id)
        except KeyError:
            pass
