"""The notification worker's test environment, shared by test_worker.py, test_outbox.py and
test_deadletters.py: the `env` fixture (a database, AMQP name prefix and SMTP server of its own, small
retry delays; the worker and relay it starts are stopped and its queues deleted afterwards) and
`Mailbox`, the SMTP server's handler."""
from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import asyncpg
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from happening_engine.amqp import Topology, connect, delete_topology
from happening_engine.config import DatabaseSettings, NotifySettings, Settings
from happening_engine.db import create_pool
from happening_engine.outbox import OutboxRelay
from happening_engine.worker import NotificationWorker
from loadtests.throwaway import create_database, drop_database
from tests.conftest import RUN_ID


class Mailbox:
    """aiosmtpd handler: keeps every accepted mail; refuses per notification id when told to."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []
        self.refusals: dict[str, int] = {}  # notification id -> times still to refuse (-1: always)
        self.refuse_code = "451 4.3.0 try again later"
        self.refused: Counter[str] = Counter()
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        nid = str(message["X-Happening-Notification-Id"])
        left = self.refusals.get(nid, 0)
        if left != 0:
            self.refusals[nid] = left - 1 if left > 0 else -1
            self.refused[nid] += 1
            return self.refuse_code
        self.mails.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        self.arrived.set()
        return "250 OK"

    def by_id(self) -> dict[str, list[EmailMessage]]:
        out: dict[str, list[EmailMessage]] = {}
        for _, message in self.mails:
            out.setdefault(str(message["X-Happening-Notification-Id"]), []).append(message)
        return out


@dataclass
class Env:
    settings: Settings
    pool: asyncpg.Pool
    mailbox: Mailbox
    topology: Topology
    started: list[Any] = field(default_factory=list)

    def with_notify(self, **changes: Any) -> Settings:
        return dataclasses.replace(self.settings, notify=dataclasses.replace(self.settings.notify, **changes))

    async def start_worker(self, settings: Settings | None = None) -> NotificationWorker:
        worker = NotificationWorker(self.pool, settings or self.settings)
        await worker.start()
        self.started.append(worker)
        return worker

    async def start_relay(self, settings: Settings | None = None) -> OutboxRelay:
        relay = OutboxRelay(self.pool, settings or self.settings)
        await relay.start()
        self.started.append(relay)
        return relay


async def _smtp_server(mailbox: Mailbox) -> tuple[asyncio.AbstractServer, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(mailbox, hostname="happening.test"), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture
async def env(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    """Own database, AMQP prefix and SMTP server; small retry delays; everything removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    name = f"happening_test_{RUN_ID}_n{tag}"
    url = await create_database(name)
    pool = await create_pool(DatabaseSettings(url=url, min_size=1, max_size=20))
    mailbox = Mailbox()
    server, port = await _smtp_server(mailbox)
    test_settings = dataclasses.replace(
        settings,
        database=DatabaseSettings(url=url, min_size=1, max_size=20),
        amqp=dataclasses.replace(settings.amqp, prefix=f"{settings.amqp.prefix}.n{tag}"),
        notify=NotifySettings(smtp_url=f"smtp://127.0.0.1:{port}", max_attempts=3, retry_base_seconds=0.1,
                              prefetch=20),
    )
    topology = Topology.for_settings(test_settings.amqp, test_settings.notify)
    e = Env(test_settings, pool, mailbox, topology)
    try:
        yield e
    finally:
        for part in reversed(e.started):
            await part.stop()
        connection = await connect(test_settings.amqp, "test-cleanup")
        channel = await connection.channel()
        await delete_topology(channel, topology)
        await connection.close()
        server.close()
        await server.wait_closed()
        await pool.close()
        await drop_database(name)


async def all_settled(pool: asyncpg.Pool, count: int) -> bool:
    return await pool.fetchval("select count(*) from notifications where status <> 'pending'") == count  # type: ignore[no-any-return]
