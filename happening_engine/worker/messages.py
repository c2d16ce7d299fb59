"""The worker's AMQP messages: reading the jobs a message carries, publishing one job on to a delay
queue or the dead letters, and giving a message back."""
from __future__ import annotations

import uuid
from typing import Any

import orjson
import structlog
from aiormq.abc import ConfirmationFrameType, DeliveredMessage
from pamqp.commands import Basic

from ..amqp import AMQP_ERRORS, Topology, delivery_tag
from .acks import Acks
from .jobs import JobOutcome, Verdict

log = structlog.get_logger(__name__)


def jobs_of(message: DeliveredMessage) -> list[dict[str, Any]] | None:
    """The jobs a message carries (`{"jobs": [...]}`, or one job as `{"id": ...}`); None if malformed."""
    try:
        body = orjson.loads(message.body)
        if "jobs" in body:
            jobs = body["jobs"]
        else:  # one job, the message id naming its row
            jobs = [{**body, "id": body.get("id") or message.header.properties.message_id}]
        for job in jobs:
            uuid.UUID(job["id"])
        return jobs if jobs else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


async def move(channel: Any, topology: Topology, job: dict[str, Any],
               verdict: Verdict) -> ConfirmationFrameType | None:
    """Publish `job` alone to the delay queue of `verdict.delay_ms`, or to the dead letters (DEAD).
    `channel`: aiormq's Channel (the abstract one does not declare `wait`)."""
    to_dead = verdict.outcome is JobOutcome.DEAD
    exchange = topology.dead_exchange if to_dead else topology.retry_exchange
    confirm: ConfirmationFrameType | None = await channel.basic_publish(
        orjson.dumps({"jobs": [job]}), exchange=exchange, routing_key="" if to_dead else str(verdict.delay_ms),
        mandatory=True,
        wait=False,  # the confirm is what counts
        properties=Basic.Properties(delivery_mode=2, message_id=job["id"], content_type="application/json",
                                    message_type=job.get("type")),
    )
    return confirm


async def hand_back(acks: Acks, message: DeliveredMessage) -> None:
    """Requeue the whole message; if the channel is gone, the broker requeues it by itself."""
    try:
        await acks.nack(delivery_tag(message), requeue=True)
    except AMQP_ERRORS as exc:
        log.warning("worker_nack_lost", message_id=message.header.properties.message_id, error=repr(exc))
