"""The platform under test as subprocesses: `happening serve` and the baseline app, on a throwaway
database, Redis key prefix and RabbitMQ name prefix, on free ports, logging JSON lines to files.

`Platform.teardown()` stops both and removes what the run created (database, keys, queues).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg

from happening_engine.amqp import Topology, connect, delete_topology
from happening_engine.config import RedisSettings, Settings
from happening_engine.connections import create_redis
from happening_engine.constants import shard_queue

from . import cpu
from .throwaway import database_url, delete_prefix, drop_database

READY_TIMEOUT = 60.0
# A benchmark's setup is bulk work no person does: one organizer creates and publishes thousands of
# events. Its runs raise the per-user write limits for that (the defaults would hold it to 2/s).
BULK_SETUP = {"HAPPENING_RATE_WRITE_BURST": "100000", "HAPPENING_RATE_WRITE_PER_MINUTE": "1000000"}
MAX_SHARDS = 8  # teardown deletes the command queues of shards 0 .. MAX_SHARDS-1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """One started subprocess, its port and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far (from /proc; Linux only)."""
        return cpu.seconds(self.popen.pid)

    def kill(self) -> None:
        """SIGKILL the process and every child it started (a crash, not a shutdown)."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        self.log.close()

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


@dataclass
class Platform:
    """Names and processes of one benchmark run."""

    logs_dir: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    dev_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)  # for experiments (pool size, batch size)
    serve: Process | None = None
    baseline: Process | None = None
    parts: list[Process] = field(default_factory=list)  # the split layout's processes (`start_part`)

    @property
    def database(self) -> str:
        return f"happening_bench_{self.run_id}"

    @property
    def database_url(self) -> str:
        return database_url(self.database)

    @property
    def redis_prefix(self) -> str:
        return f"bench:{self.run_id}:"

    @property
    def amqp_prefix(self) -> str:
        return f"bench.{self.run_id}"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.dev_port}/realms/happening"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every process of this run (HAPPENING_* for its own names and ports)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPENING_")}
        env.update(HAPPENING_DATABASE_URL=self.database_url, HAPPENING_REDIS_PREFIX=self.redis_prefix,
                   HAPPENING_AMQP_PREFIX=self.amqp_prefix, HAPPENING_OIDC_DEV_PORT=str(self.dev_port),
                   HAPPENING_LOG_FORMAT="json")
        env.update(self.extra_env)
        env.update(extra)
        return env

    def happening(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run a `happening` command against this run's database and prefixes."""
        return subprocess.run([sys.executable, "-m", "happening.cli", *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def _start(self, name: str, argv: list[str], **env: str) -> Process:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log = (self.logs_dir / f"{name}.log").open("wb")
        popen = subprocess.Popen(argv, env=self.env(HAPPENING_HTTP_PORT=str(port), **env),
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return Process(name, popen, port, log)

    async def start_serve(self, **env: str) -> Process:
        """`happening migrate`, then `happening serve` (API, engine, relay, worker, lifecycle, and the dev
        issuer unless `env` names an issuer)."""
        done = self.happening("migrate")
        if done.returncode != 0:
            raise RuntimeError(f"happening migrate failed: {done.stderr}")
        self.serve = self._start("serve", [sys.executable, "-m", "happening.cli", "serve"], **env)
        await wait_ready(self.serve)
        return self.serve

    async def start_part(self, name: str, *args: str, ready: str | None = "/readyz", **env: str) -> Process:
        """`happening <args>` as one process of a split layout (api, engine, worker, dev-issuer); waits
        until `ready` answers 200 on its HTTP port (None: does not wait). Migrate first."""
        process = self._start(name, [sys.executable, "-m", "happening.cli", *args], **env)
        self.parts.append(process)
        if ready is not None:
            await wait_ready(process, path=ready)
        return process

    async def start_dev_issuer(self) -> Process:
        """The dev issuer alone, on this run's `dev_port` (the split layout's token source)."""
        process = self._start("dev-issuer", [sys.executable, "-m", "happening.cli", "dev-issuer"])
        self.parts.append(process)
        await wait_ready(process, url=f"{self.issuer}/.well-known/openid-configuration")
        return process

    async def start_baseline(self) -> Process:
        """The baseline app (`loadtests.baseline_app`), validating tokens of the serve process's issuer."""
        self.baseline = self._start("baseline", [sys.executable, "-m", "loadtests.baseline_app"],
                                    HAPPENING_OIDC_ISSUER=self.issuer)
        await wait_ready(self.baseline)
        return self.baseline

    async def pending_notifications(self) -> int:
        conn = await asyncpg.connect(self.database_url)
        try:
            return int(await conn.fetchval("select count(*) from notifications where status = 'pending'"))
        finally:
            await conn.close()

    async def teardown(self) -> None:
        """Stop the processes; drop the database, the Redis keys and the RabbitMQ names of this run."""
        for process in (self.baseline, self.serve, *self.parts):
            if process is not None:
                process.stop()
        await drop_database(self.database)
        redis = create_redis(RedisSettings(prefix=self.redis_prefix))
        try:
            await delete_prefix(redis, self.redis_prefix)
        finally:
            await redis.aclose()
        settings = Settings.from_env(self.env())  # the run's own notify settings name its retry queues
        connection = await connect(settings.amqp, "bench-teardown")
        try:
            channel = await connection.channel()
            await delete_topology(channel, Topology.for_settings(settings.amqp, settings.notify))
            for shard in range(MAX_SHARDS):
                await channel.queue_delete(shard_queue(self.amqp_prefix, shard))
        finally:
            await connection.close()


async def wait_ready(process: Process, timeout: float = READY_TIMEOUT, path: str = "/readyz",
                     url: str | None = None) -> None:
    """Poll /readyz (or `path`, or `url`) until it answers 200 (PostgreSQL, Redis and RabbitMQ reachable)."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.popen.returncode}; see {process.log.name}")
            try:
                async with session.get(url or f"{process.url}{path}") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass  # not listening yet
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{process.name} not ready after {timeout}s; see {process.log.name}")
            await asyncio.sleep(0.2)


async def run_and_report(platform: Platform, run: Callable[[Platform], Awaitable[dict[str, Any]]],
                         problems: Callable[[dict[str, Any]], list[str]], summary: Callable[[dict[str, Any]], str],
                         outputs: Sequence[Path | None]) -> int:
    """Run a benchmark on `platform` (torn down after), write its result as JSON to each of `outputs`,
    print its summary and any problems; the exit status is 1 if it found problems."""
    try:
        result = await run(platform)
    finally:
        await platform.teardown()
    result["problems"] = found = problems(result)
    for path in outputs:
        if path is not None:
            path.write_text(json.dumps(result, indent=2) + "\n")
    print(summary(result))
    for line in found:
        print(f"PROBLEM {line}")
    return 1 if found else 0
