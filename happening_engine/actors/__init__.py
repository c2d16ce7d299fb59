"""Per-event actors: one coroutine with a mailbox per active event."""
