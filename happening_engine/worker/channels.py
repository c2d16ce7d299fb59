"""Delivery channels: email over SMTP, SMS and push through HTTP providers, and a log channel where none is
configured. Each send carries the notification id (Message-ID, Idempotency-Key) for the far side to drop
a resend after a crash between the provider's acceptance and `sent`."""
from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiohttp
import aiosmtplib
import structlog

from ..config import NotifySettings
from .wording import Wording

log = structlog.get_logger(__name__)


class DeliveryFailed(Exception):
    """A send that did not go through; `permanent` ones (e.g. SMTP 5xx, HTTP 4xx) are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True)
class Job:
    """What a channel needs to know about the notification it delivers."""

    id: str
    type: str
    recipient: str
    user_id: str | None
    event_id: str | None


class Channel(Protocol):
    name: str

    async def send(self, job: Job, wording: Wording) -> None: ...


class EmailChannel:
    """SMTP via aiosmtplib; `smtp_url` is smtp://[user:pass@]host:port or smtps:// for implicit TLS."""

    name = "email"

    def __init__(self, notify: NotifySettings, timeout: float) -> None:
        assert notify.smtp_url is not None
        url = urlsplit(notify.smtp_url)
        self.sender = notify.smtp_from
        self.options: dict[str, Any] = {
            "hostname": url.hostname or "127.0.0.1",
            "port": url.port or (465 if url.scheme == "smtps" else 25),
            "username": unquote(url.username) if url.username else None,
            "password": unquote(url.password) if url.password else None,
            "use_tls": url.scheme == "smtps",
            "timeout": timeout,
        }

    async def send(self, job: Job, wording: Wording) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = job.recipient
        message["Subject"] = wording.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{job.id}@happening>"
        message["X-Happening-Notification-Id"] = job.id
        message["X-Happening-Type"] = job.type
        message.set_content(wording.text)
        try:
            await aiosmtplib.send(message, **self.options)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            raise DeliveryFailed(f"SMTP refused recipient: {exc}", permanent=all(c >= 500 for c in codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP: {exc!r}") from exc


class HttpChannel:
    """POSTs `{id, type, to, subject, text}` as JSON with a bearer token to an SMS or push provider."""

    def __init__(self, name: str, url: str, token: str | None, session: aiohttp.ClientSession,
                 timeout: float) -> None:
        self.name, self.url, self.token, self.session = name, url, token, session
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, job: Job, wording: Wording) -> None:
        headers = {"Idempotency-Key": job.id}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = {"id": job.id, "type": job.type, "to": job.recipient, "subject": wording.subject,
                "text": wording.short}
        try:
            async with self.session.post(self.url, json=body, headers=headers, timeout=self.timeout) as response:
                if response.status < 300:
                    return
                detail = (await response.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"{self.name} provider: {exc!r}") from exc
        permanent = 400 <= response.status < 500 and response.status not in (408, 429)
        raise DeliveryFailed(f"{self.name} provider HTTP {response.status}: {detail}", permanent=permanent)


class LogChannel:
    """Delivers by writing a log line: used when the row's channel has no provider configured."""

    name = "log"

    async def send(self, job: Job, wording: Wording) -> None:
        log.info("notification_delivered_to_log", notification_id=job.id, type=job.type,
                 recipient=job.recipient, subject=wording.subject, text=wording.text)


class Channels:
    """Picks the channel for a row: its configured provider, else the log channel."""

    def __init__(self, notify: NotifySettings, session: aiohttp.ClientSession, timeout: float) -> None:
        self.log = LogChannel()
        self.by_name: dict[str, Channel] = {"log": self.log}
        if notify.smtp_url:
            self.by_name["email"] = EmailChannel(notify, timeout)
        if notify.sms_url:
            self.by_name["sms"] = HttpChannel("sms", notify.sms_url, notify.sms_token, session, timeout)
        if notify.push_url:
            self.by_name["push"] = HttpChannel("push", notify.push_url, notify.push_token, session, timeout)

    def for_row(self, channel: str) -> Channel:
        return self.by_name.get(channel, self.log)
