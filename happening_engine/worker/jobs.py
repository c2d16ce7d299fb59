"""What becomes of one notification job: a pure state machine from what the claim and the send
found to an outcome, so the consumer only carries outcomes out (record, publish, ack)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class JobOutcome(Enum):
    DONE = "done"  # sent, or nothing left to send: the message may be acked
    RETRY = "retry"  # the job alone to a delay queue, then handled again
    DEAD = "dead"  # the job alone to the dead letters
    HANDED_BACK = "handed_back"  # not handled (PostgreSQL down, a bug): its whole message back to the queue


@dataclass(frozen=True, slots=True)
class Verdict:
    """A handled job's outcome; `delay_ms`: how long a RETRY waits in its delay queue."""

    outcome: JobOutcome
    delay_ms: int = 0


DONE, DEAD, HANDED_BACK = Verdict(JobOutcome.DONE), Verdict(JobOutcome.DEAD), Verdict(JobOutcome.HANDED_BACK)


def unclaimed(status: str | None, redelivered: bool) -> JobOutcome:
    """A job whose row could not be claimed (`status`: the row's, None if there is none). Another
    delivery holds it: RETRY (look again soon); failed, and the message was lost before the job was
    moved: DEAD now; sent, failed (a duplicate of a dead job) or missing: DONE."""
    if status == "pending":
        return JobOutcome.RETRY
    if status == "failed" and redelivered:
        return JobOutcome.DEAD
    return JobOutcome.DONE


def after_send(error: str | None, permanent: bool, attempts: int, max_attempts: int) -> JobOutcome:
    """A claimed job after its send: DONE if it went out, DEAD if refused for good or out of attempts,
    else RETRY."""
    if error is None:
        return JobOutcome.DONE
    if permanent or attempts >= max_attempts:
        return JobOutcome.DEAD
    return JobOutcome.RETRY
