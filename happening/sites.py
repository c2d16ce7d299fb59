"""Serving aiohttp apps on their ports, and child processes, until SIGINT/SIGTERM; then a clean stop
within a deadline."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

import structlog
from aiohttp import web

from happening_engine.config import HttpSettings

log = structlog.get_logger(__name__)


async def _supervise(argv: list[str], stop: asyncio.Event) -> None:
    """Run a child `happening` process until `stop`; restart it if it dies (after a second)."""
    while not stop.is_set():
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "happening.cli", *argv)
        log.info("child_started", command=" ".join(argv), pid=proc.pid)
        waiting = asyncio.ensure_future(proc.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if stop.is_set():
            proc.terminate()
            try:
                await asyncio.wait_for(waiting, 60)
            except TimeoutError:
                proc.kill()
                await waiting
            return
        log.error("child_exited", command=" ".join(argv), code=proc.returncode)
        await asyncio.sleep(1)


STOP_DEADLINE = 9.5  # seconds from SIGTERM to exit, whatever a shutdown step waits on


def _exit_after(seconds: float) -> None:
    """Exit the process after `seconds` even if the shutdown is stuck (a wedged event loop, a lock wait
    in PostgreSQL): a thread, because a stuck loop runs no timer. What is unfinished is safe to drop:
    unacked commands are redelivered (and deduplicated by request id), uncommitted writes roll back."""
    def _exit() -> None:
        log.error("stop_deadline_exceeded", seconds=seconds)
        os._exit(1)

    timer = threading.Timer(seconds, _exit)
    timer.daemon = True
    timer.start()


async def run_sites(apps: Sequence[tuple[web.Application, str, int]],
                    children: Sequence[list[str]] = (), http: HttpSettings | None = None) -> None:
    """Serve each app on its host:port (and run each child command) until SIGINT/SIGTERM, then shut
    down cleanly."""
    from .processes import make_runner

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runners = []
    supervisors = []
    try:
        for app, host, port in apps:
            runner = make_runner(app, http or HttpSettings())
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, host, port)
            await site.start()
            log.info("listening", url=site.name)
        supervisors = [asyncio.create_task(_supervise(argv, stop)) for argv in children]
        await stop.wait()
        log.info("stopping")
        _exit_after(STOP_DEADLINE)
    finally:
        stop.set()
        await asyncio.gather(*supervisors)
        for runner in reversed(runners):
            await runner.cleanup()


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run `coro` to its end on uvloop where it is installed, else on asyncio's own loop."""
    try:
        import uvloop
        uvloop.run(coro)
    except ImportError:
        asyncio.run(coro)
