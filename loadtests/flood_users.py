"""Ordinary users at a human pace: `python -m loadtests.flood_users SPEC` (driven by `loadtests.flood_bench`).

SPEC is a JSON file `{"url", "local_address", "think_s", "events": [id, ...], "tokens": [token, ...]}`.
Each token is one user, acting on its own at random intervals (exponential, mean `think_s`): with no
booking held it books a random event (1 seat) about a third of the time, holding one it cancels it
about a third of the time, otherwise it reads (`GET /v1/events/{id}` or `GET /v1/bookings`). The
schedule is open: a slow answer delays only that user, never the others. Connections leave from
`local_address` (another loopback address than the flooder's). Prints `READY`, runs until `stop` on
stdin, waits for the requests in flight, then prints one JSON line: every request as
`[sent (CLOCK_MONOTONIC s), latency ms, status, kind]`. Being its own process, its work never competes
with the server's event loop, only for the machine's cores.
"""
from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ORDINARY_ADDRESS = "127.0.0.2"  # the flooder's wrk connects from 127.0.0.1
ACT = 0.35  # chance that a user's next action books (or, holding a booking, cancels)


class Users:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.url, self.events, self.think = spec["url"].rstrip("/"), spec["events"], float(spec["think_s"])
        self.tokens: list[str] = spec["tokens"]
        self.samples: list[tuple[float, float, int, str]] = []
        self.stopping = asyncio.Event()

    async def call(self, session: aiohttp.ClientSession, kind: str, method: str, path: str, token: str,
                   body: Any = None) -> Any:
        sent = time.monotonic()
        try:
            async with session.request(method, self.url + path, json=body,
                                       headers={"Authorization": f"Bearer {token}"}) as response:
                data = await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError) as exc:
            print(f"request error: {kind} {exc!r}", file=sys.stderr, flush=True)
            data, status = b"", 0
        self.samples.append((sent, round((time.monotonic() - sent) * 1000, 3), status, kind))
        return json.loads(data) if status in (200, 201) and data else None

    async def user(self, session: aiohttp.ClientSession, token: str, rng: random.Random) -> None:
        booking: str | None = None
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), rng.expovariate(1 / self.think))
                return
            except TimeoutError:
                pass
            event = rng.choice(self.events)
            if booking is None and rng.random() < ACT:
                made = await self.call(session, "book", "POST", f"/v1/events/{event}/bookings", token, {"seats": 1})
                booking = made["id"] if made else None
            elif booking is not None and rng.random() < ACT:
                await self.call(session, "cancel", "POST", f"/v1/bookings/{booking}/cancel", token, {})
                booking = None
            elif rng.random() < 0.5:
                await self.call(session, "event", "GET", f"/v1/events/{event}", token)
            else:
                await self.call(session, "bookings", "GET", "/v1/bookings", token)

    async def run(self, local_address: str) -> None:
        connector = aiohttp.TCPConnector(limit=0, local_addr=(local_address, 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            tasks = [asyncio.create_task(self.user(session, token, random.Random(i)))
                     for i, token in enumerate(self.tokens)]
            print("READY", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, _wait_for_stop)
            self.stopping.set()
            await asyncio.gather(*tasks)
        print(json.dumps({"samples": self.samples}), flush=True)


class OrdinaryUsers:
    """This module as a process, as `loadtests.flood_bench` drives it: started once, runs through every phase."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, url: str, tokens: list[str], events: list[str], think: float, workdir: Path) -> None:
        spec = workdir / "users.json"
        spec.write_text(json.dumps({"url": url, "local_address": ORDINARY_ADDRESS, "think_s": think,
                                    "events": events, "tokens": tokens}))
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadtests.flood_users", str(spec), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=(workdir / "users.err").open("wb"), limit=1 << 28)
        assert self.proc.stdout is not None
        if (await asyncio.wait_for(self.proc.stdout.readline(), 60)).strip() != b"READY":
            raise RuntimeError(f"the ordinary users did not start; see {workdir / 'users.err'}")

    async def stop(self) -> list[list[Any]]:
        """Stop; every request as [sent, latency ms, status, kind]."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"stop\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        await self.proc.wait()
        if not line:
            raise RuntimeError("the ordinary users exited without a report; see users.err")
        return list(json.loads(line)["samples"])


def _wait_for_stop() -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            return


async def main(path: str) -> None:
    spec = json.loads(Path(path).read_text())
    await Users(spec).run(spec["local_address"])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
