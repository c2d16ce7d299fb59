"""Settings: one frozen dataclass per dependency, built from the environment in one place.

Only entry points call `Settings.from_env()`; everything else receives the settings it needs.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Section = TypeVar("_Section", bound="DataclassInstance")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "postgresql://postgres@127.0.0.1:5432/happening"
    min_size: int = 0  # 0: the app starts (and /readyz can say why) even while PostgreSQL is down
    max_size: int = 10


@dataclass(frozen=True)
class RedisSettings:
    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = ""  # prepended to every key, so test runs never collide (no "{": keys carry their own hash tag)
    cluster: int = 0  # 1: `url` is one node of a Redis Cluster (the others are learnt from it)


@dataclass(frozen=True)
class AmqpSettings:
    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    prefix: str = "happening"  # prepended to every exchange and queue name
    # Seconds of the AMQP heartbeat (unless the URL sets `heartbeat`): RabbitMQ drops a connection that
    # missed two, and only then moves a shard's queue to its standby engine (a paused engine keeps its
    # connection open). aiormq's default is 60.
    heartbeat: int = 4


@dataclass(frozen=True)
class OidcSettings:
    issuer: str | None = None  # None: use the bundled dev issuer
    audience: str = "happening-api"
    client_id: str = "happening-api"
    web_client_id: str = "happening-web"  # the web app's public client (authorization code + PKCE)
    internal_url: str | None = None  # where this service reaches the issuer, if not at `issuer`
    dev_host: str = "127.0.0.1"
    dev_port: int = 8081
    dev_key_file: str | None = None

    @property
    def dev_issuer_url(self) -> str:
        return f"http://{self.dev_host}:{self.dev_port}/realms/happening"

    @property
    def effective_issuer(self) -> str:
        return self.issuer or self.dev_issuer_url

    @property
    def fetch_base(self) -> str:
        """Base URL to fetch discovery and JWKS from (inside Docker it differs from `iss`)."""
        return (self.internal_url or self.effective_issuer).rstrip("/")


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    worker_port: int = 0  # /healthz and /metrics of `serve`'s notification process (0: any free port)
    max_body_bytes: int = 64 * 1024
    # A connection must send a request's headers within this many seconds of opening (or of its last
    # response); aiohttp's keep-alive timer enforces it, so it is also the idle keep-alive limit.
    header_timeout: float = 20.0
    body_timeout: float = 30.0  # reading a request's body, once its headers arrived
    web_root: str | None = None  # the web app's static export; None: web/out beside the code


@dataclass(frozen=True)
class EngineSettings:
    shard: int = 0
    shards: int = 1
    # Commands one actor decides (one Lua call) and commits (one statement) together (README, Performance).
    batch_max: int = 512
    idle_seconds: float = 60.0  # an actor with an empty mailbox this long retires
    lock_ttl_seconds: int = 10  # TTL of the booking:{event}:{user} duplicate lock
    lifecycle_interval: float = 1.0
    # A command sent over RabbitMQ must reach its actor within this many seconds, else it is dropped
    # with no effect; the API answers 503 only after that (plus `routing.REPLY_GRACE`).
    command_timeout: float = 5.0
    # HMAC keys of engine commands, comma-separated: the first signs, all verify (`signing.py`)
    command_keys: str | None = None


@dataclass(frozen=True)
class NotifySettings:
    smtp_url: str | None = None  # smtp://user:pass@host:port
    smtp_from: str = "Happening <no-reply@happening.local>"
    sms_url: str | None = None
    sms_token: str | None = None
    push_url: str | None = None
    push_token: str | None = None
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    send_timeout: float = 30.0  # one delivery attempt; a claim on a row lasts 2x this + 10 s
    prefetch: int = 50
    # Comma-separated secrets sealing invite tokens for the worker (first seals, all open; see
    # happening_engine/sealed.py); `serve` makes one for its processes when unset.
    invite_keys: str | None = None
    public_url: str = "http://127.0.0.1:8080"  # where the web app is reached: invite links point there


@dataclass(frozen=True)
class RateLimitSettings:
    """Per-bucket sustained rate (per minute, or per hour) and burst (requests at once). Defaults stay
    above one person's use; a bulk setup (a benchmark's organizer creating thousands of events) raises
    the write limits through the environment (`loadtests.processes.BULK_SETUP`)."""

    enabled: int = 1
    address_per_minute: int = 600  # requests with no valid token, per client address
    address_burst: int = 200
    booking_per_minute: int = 60  # bookings and booking cancellations, per user
    booking_burst: int = 30
    write_per_minute: int = 120  # every other write (POST, PATCH, DELETE), per user
    write_burst: int = 120
    invite_per_hour: int = 300  # invites sent, per organization
    invite_burst: int = 50
    org_per_hour: int = 30  # organizations created, per user
    org_burst: int = 10
    write_in_flight: int = 4  # a user's writes (bookings included) running at once in one API process
    refusal_delay_ms: int = 1000  # a refusal is answered this late: a client retrying at once waits, not the server


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    amqp: AmqpSettings = field(default_factory=AmqpSettings)
    oidc: OidcSettings = field(default_factory=OidcSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    rate: RateLimitSettings = field(default_factory=RateLimitSettings)
    log_format: str = "auto"  # auto (console on a TTY, JSON otherwise), json, console

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from HAPPENING_* variables; unset ones keep the local defaults."""

        def get(name: str) -> str | None:
            value = env.get(f"HAPPENING_{name}")
            return value if value not in (None, "") else None

        def build(klass: type[_Section], prefix: str) -> _Section:
            kwargs: dict[str, Any] = {}
            for f in dataclasses.fields(klass):
                raw = get(f"{prefix}{f.name.upper()}")
                if raw is None:
                    continue
                kind = type(f.default) if f.default is not None else str
                kwargs[f.name] = kind(raw) if kind in (int, float) else raw
            return klass(**kwargs)

        return cls(
            database=build(DatabaseSettings, "DATABASE_"),
            redis=build(RedisSettings, "REDIS_"),
            amqp=build(AmqpSettings, "AMQP_"),
            oidc=build(OidcSettings, "OIDC_"),
            http=build(HttpSettings, "HTTP_"),
            engine=build(EngineSettings, "ENGINE_"),
            notify=build(NotifySettings, "NOTIFY_"),
            rate=build(RateLimitSettings, "RATE_"),
            log_format=get("LOG_FORMAT") or "auto",
        )
