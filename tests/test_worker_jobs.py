"""The worker's pure parts: a job's outcome from what its claim and send found, and per-user locks."""
from __future__ import annotations

from happening_engine.worker.jobs import JobOutcome, after_send, unclaimed
from happening_engine.worker.locks import KeyedLocks


def test_an_unclaimed_job_waits_for_its_holder_dies_if_lost_after_failing_else_is_done() -> None:
    assert unclaimed("pending", redelivered=False) is JobOutcome.RETRY
    assert unclaimed("failed", redelivered=True) is JobOutcome.DEAD
    assert unclaimed("failed", redelivered=False) is JobOutcome.DONE
    assert unclaimed("sent", redelivered=True) is JobOutcome.DONE
    assert unclaimed(None, redelivered=False) is JobOutcome.DONE


def test_a_send_is_done_retried_or_dead() -> None:
    assert after_send(None, permanent=False, attempts=1, max_attempts=3) is JobOutcome.DONE
    assert after_send("timeout", permanent=False, attempts=2, max_attempts=3) is JobOutcome.RETRY
    assert after_send("timeout", permanent=False, attempts=3, max_attempts=3) is JobOutcome.DEAD
    assert after_send("bad address", permanent=True, attempts=1, max_attempts=3) is JobOutcome.DEAD


def test_a_key_keeps_its_lock_while_held_and_drops_it_with_the_last_holder() -> None:
    locks = KeyedLocks()
    first, second = locks.hold("u"), locks.hold("u")
    assert first is second and len(locks) == 1
    locks.release("u")
    assert len(locks) == 1
    locks.release("u")
    assert len(locks) == 0
