"""PostgreSQL: the asyncpg pool, and a hand-written migration runner rather than a framework (it only
applies `sql/`'s numbered files in order, each in its own transaction, under an advisory lock so that
two migrators starting at once end with one schema)."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import structlog

from .config import DatabaseSettings
from .constants import MIGRATION_LOCK_ID, SQL_DIR
from .ids import instance_name

log = structlog.get_logger(__name__)


def _jsonb_encode(value: object) -> bytes:
    return b"\x01" + orjson.dumps(value)  # jsonb's binary form: a version byte, then the text


def _jsonb_decode(data: bytes) -> object:
    return orjson.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary codecs: COPY (the bulk writes of the booking path) needs them; orjson is the cheap JSON.
    await conn.set_type_codec("json", encoder=orjson.dumps, decoder=orjson.loads, schema="pg_catalog",
                              format="binary")
    await conn.set_type_codec("jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode, schema="pg_catalog",
                              format="binary")


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset on release (a `RESET ALL; UNLISTEN *; ...` round trip per checkout):
    pooled connections keep no session state here (no SET, no LISTEN, advisory locks only per
    transaction), so only an abandoned transaction needs undoing."""
    if conn.is_in_transaction():
        await conn.execute("rollback")


# No lock chain can wedge a process for good (two engines once waited on each other's locks across
# processes, one side idle in a transaction waiting in Python, which PostgreSQL cannot see as a deadlock):
# a lock wait fails after LOCK_TIMEOUT, and a transaction left idle that long is ended by the server.
SESSION_TIMEOUTS = {"lock_timeout": "5s", "idle_in_transaction_session_timeout": "10s"}
APPLICATION_PREFIX = "happening:"


def application_name() -> str:
    """This process's connections' name: an engine's is `happening:` + its shard claims' owner, so a
    claim can tell the backends of a replaced owner (store/shards.py)."""
    return APPLICATION_PREFIX + instance_name()


async def create_pool(settings: DatabaseSettings, *, min_size: int | None = None,
                      max_size: int | None = None) -> asyncpg.Pool:
    """The pool of `settings`, its sizes overridden where given (a short-lived command needs few)."""
    return await asyncpg.create_pool(
        settings.url, min_size=settings.min_size if min_size is None else min_size,
        max_size=settings.max_size if max_size is None else max_size, init=_init_connection,
        reset=_reset_connection, server_settings={**SESSION_TIMEOUTS, "application_name": application_name()})


async def _connect_creating(url: str) -> asyncpg.Connection:
    """Connect, creating the database first if it does not exist yet (a fresh machine)."""
    try:
        return await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        params = urlsplit(url)
        name = params.path.lstrip("/")
        admin = await asyncpg.connect(urlunsplit(params._replace(path="/postgres")))
        try:
            await admin.execute(f'create database "{name}"')
            log.info("database_created", database=name)
        except asyncpg.DuplicateDatabaseError:
            pass  # another migrator created it first
        finally:
            await admin.close()
        return await asyncpg.connect(url)


async def migrate(url: str) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call."""
    conn = await _connect_creating(url)
    applied: list[str] = []
    try:
        await conn.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                "create table if not exists schema_migrations ("
                " version text primary key, applied_at timestamptz not null default now())"
            )
            done = {r["version"] for r in await conn.fetch("select version from schema_migrations")}
            for path in sorted(SQL_DIR.glob("[0-9]*.sql")):
                version = path.stem
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute("insert into schema_migrations (version) values ($1)", version)
                applied.append(version)
                log.info("migration_applied", version=version)
        finally:
            await conn.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    finally:
        await conn.close()
    return applied
