"""Engine commands travel in batches (happening_engine/command_batch.py): the commands an API sends to one
shard together go in one signed message, the replies to one API in one. Each command of a batch is
answered on its own: a malformed, expired or refused command does not sink its batch-mates, and a batch
delivered again gives each Book the booking it made. Real RabbitMQ, PostgreSQL and Redis."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import aiormq
import asyncpg
import orjson
import pytest
from prometheus_client import REGISTRY

from happening_engine.command_batch import decode_commands, decode_replies, encode_commands, entry
from happening_engine.commands import Book
from happening_engine.config import Settings
from happening_engine.constants import shard_queue
from happening_engine.errors import Conflict, Expired, Refused
from happening_engine.routing import AmqpEngineClient
from happening_engine.signing import HEADER, CommandKeys
from loadtests.fixtures import wait_until
from tests.engine_env import shard_engine

KEYS = "batch-key"


def test_a_batch_reads_back_and_an_unreadable_entry_is_kept_by_its_id() -> None:
    event, user = uuid.uuid4(), uuid.uuid4()
    body = encode_commands([entry("a", Book(event, user, 2, request_id="r"), 123.5, 3),
                            {"id": "b", "type": "Nonsense", "body": {}}])
    good, bad = decode_commands(body)
    assert (good.id, good.command, good.deadline, good.map_version) == ("a", Book(event, user, 2, request_id="r"),
                                                                         123.5, 3)
    assert (bad.id, bad.command) == ("b", None)
    for junk in (b"[]", b'{"type": "Book"}', b'{"commands": [{"type": "Book"}]}', b"not json"):
        with pytest.raises(ValueError):
            decode_commands(junk)
    replies = dict(decode_replies(orjson.dumps({"replies": [
        {"id": "a", "ok": True, "result": {"status": "confirmed"}},
        {"id": "b", "ok": False, "error": "Conflict", "detail": "no", "field": None, "extra": {"booking_id": "x"}}]})))
    assert replies["a"] == {"status": "confirmed"}
    assert isinstance(replies["b"], Conflict) and replies["b"].extra == {"booking_id": "x"}


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Settings]:
    async for keyed in shard_engine(settings, "batch", KEYS, 5.0):
        yield keyed


async def _event(pool: asyncpg.Pool, users: int, total: int) -> tuple[UUID, list[UUID]]:
    tag = uuid.uuid4().hex[:8]
    ids = [r["id"] for r in await pool.fetch(
        "insert into users (keycloak_id, email, full_name) select 'kc-' || $1 || '-' || i,"
        " 'b' || i || '-' || $1 || '@example.test', 'User' from generate_series(1, $2) i returning id", tag, users)]
    org = await pool.fetchval("insert into organizations (name, created_by) values ('Org', $1) returning id", ids[0])
    event = await pool.fetchval(
        "insert into events (org_id, name, category, status, starts_at, ends_at, total_slots, max_seats_per_booking,"
        " published_at) values ($1, 'Batch', 'concert', 'upcoming', now() + interval '7 days',"
        " now() + interval '7 days 3 hours', $2, 4, now()) returning id", org, total)
    return event, ids


async def _deliveries(settings: Settings, body: bytes, times: int) -> list[dict[str, Any]]:
    """Publish the signed `body` to shard 0 `times` times; the replies of each delivery by command id."""
    connection = await aiormq.connect(settings.amqp.url)
    try:
        channel = await connection.channel()
        queue = (await channel.queue_declare("", exclusive=True, auto_delete=True)).queue
        assert queue is not None
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_reply(message: aiormq.abc.DeliveredMessage) -> None:
            await got.put(message.body)

        await channel.basic_consume(queue, on_reply, no_ack=True)
        out = []
        for _ in range(times):
            await channel.basic_publish(body, routing_key=shard_queue(settings.amqp.prefix, 0),
                                        properties=aiormq.spec.Basic.Properties(
                                            reply_to=queue, headers={HEADER: CommandKeys.parse(KEYS).sign(body)}))
            replies: dict[str, Any] = {}
            while len(replies) < len(decode_commands(body)):
                replies.update(decode_replies(await asyncio.wait_for(got.get(), 10)))
            out.append(replies)
        return out
    finally:
        await connection.close()


async def test_each_command_of_a_batch_is_answered_alone_and_again_the_same_when_redelivered(engine, pool) -> None:
    event, (first, second, late) = await _event(pool, 3, total=5)
    now = time.time()
    body = encode_commands([
        entry("first", Book(event, first, 1, request_id=uuid.uuid4().hex), now + 10, 0),
        {"id": "unreadable", "type": "Book", "body": {"event_id": "not a uuid"}, "deadline": now + 10},
        entry("late", Book(event, late, 1, request_id=uuid.uuid4().hex), now - 1, 0),
        entry("twice", Book(event, first, 1), now + 10, 0),  # first's own second booking: refused
        entry("second", Book(event, second, 1, request_id=uuid.uuid4().hex), now + 10, 0),
    ])
    once, again = await _deliveries(engine, body, times=2)
    for replies in (once, again):
        assert replies["first"]["status"] == replies["second"]["status"] == "confirmed"
        assert isinstance(replies["unreadable"], Refused) and replies["unreadable"].extra["reason"] == "malformed"
        assert isinstance(replies["late"], Expired)
        assert isinstance(replies["twice"], Conflict) and replies["twice"].extra["booking_id"] == once["first"]["id"]
    assert again["first"]["id"] == once["first"]["id"] and again["second"]["id"] == once["second"]["id"]
    stored = await pool.fetch("select user_id from bookings where event_id = $1", event)
    assert sorted(r["user_id"] for r in stored) == sorted([first, second])


def _messages() -> tuple[float, float]:
    count = REGISTRY.get_sample_value("happening_engine_commands_per_message_count") or 0.0
    return count, REGISTRY.get_sample_value("happening_engine_commands_per_message_sum") or 0.0


async def test_commands_sent_together_travel_in_fewer_messages(engine, pool) -> None:
    event, users = await _event(pool, 60, total=20)
    client = AmqpEngineClient(engine)
    await client.start()
    try:
        before = _messages()
        results = await asyncio.gather(*(client.send(Book(event, user, 1)) for user in users))
        after = _messages()
    finally:
        await client.stop()
    assert sorted(r["status"] for r in results) == ["confirmed"] * 20 + ["waiting"] * 40
    messages, commands = after[0] - before[0], after[1] - before[1]
    assert commands == 60 and messages <= 3, (messages, commands)  # the first alone, the rest behind it


def _refused(reason: str) -> float:
    return REGISTRY.get_sample_value("happening_engine_commands_refused_total", {"reason": reason}) or 0.0


async def test_a_batch_changed_after_signing_is_refused_whole(engine, pool) -> None:
    event, (user,) = await _event(pool, 1, total=5)
    signed = encode_commands([entry("a", Book(event, user, 1, request_id="r"), time.time() - 1, 0)])
    later = signed.replace(b'"deadline":', b'"deadline":1', 1)  # a past deadline pushed far out, after signing
    refused = _refused("bad_signature")
    connection = await aiormq.connect(engine.amqp.url)
    try:
        channel = await connection.channel()
        await channel.basic_publish(later, routing_key=shard_queue(engine.amqp.prefix, 0),
                                    properties=aiormq.spec.Basic.Properties(
                                        headers={HEADER: CommandKeys.parse(KEYS).sign(signed)}))
    finally:
        await connection.close()
    await wait_until(lambda: asyncio.sleep(0, _refused("bad_signature") >= refused + 1), what="refused")
    assert await pool.fetchval("select count(*) from bookings where event_id = $1", event) == 0
