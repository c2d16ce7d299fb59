"""A process holding many live streams: `python -m loadtests.stream_clients SPEC` (driven by stream_bench).

SPEC is a JSON file `{"url": ..., "streams": [[path, token], ...]}`. The process opens every stream
(aiohttp, one connection each), prints `READY <open streams>` once each has its first message, then
answers commands on stdin, one per line: `reset` (forget the latency samples so far), `report`
(prints one JSON line: push latencies from `committed_at` to receipt, in ms, and each stream's last
`state`), `quit`. Being its own process, its parsing never competes with the server's event loop for
the GIL, only for the machine's cores.
"""
from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from datetime import datetime
from typing import Any

import aiohttp
import orjson

OPEN_AT_ONCE = 100


class Holder:
    def __init__(self, url: str, streams: list[tuple[str, str]]) -> None:
        self.url, self.streams = url, streams
        self.latencies_ms: list[float] = []
        self.last_state: dict[int, dict[str, Any]] = {}  # stream index -> last `state` message
        self.first = 0
        self.errors = 0
        self.ended = 0
        self._opened = asyncio.Event()

    async def run_stream(self, session: aiohttp.ClientSession, index: int, path: str, token: str,
                         gate: asyncio.Semaphore) -> None:
        """Hold one stream; `gate` bounds how many are being opened at once (released at the first message)."""
        await gate.acquire()
        opening = True
        try:
            response = await session.get(self.url + path, headers={"Authorization": f"Bearer {token}"})
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status}")
            event = ""
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    self._message(index, event, orjson.loads(line[5:]))
                    if opening:
                        opening = False
                        gate.release()
                        self._count_first()
            self.ended += 1
        except (aiohttp.ClientError, RuntimeError, OSError, ValueError) as exc:
            self.errors += 1
            print(f"stream error: {exc!r}", file=sys.stderr, flush=True)
        finally:
            if opening:
                gate.release()
                self._count_first()

    def _count_first(self) -> None:
        self.first += 1
        if self.first == len(self.streams):
            self._opened.set()

    def _message(self, index: int, event: str, data: dict[str, Any]) -> None:
        committed = data.get("committed_at")
        if committed:
            at = datetime.fromisoformat(committed.replace("Z", "+00:00")).timestamp()
            self.latencies_ms.append((time.time() - at) * 1000)
        if event == "state":
            self.last_state[index] = data

    def report(self) -> dict[str, Any]:
        states: dict[str, list[list[Any]]] = {}
        for data in self.last_state.values():
            states.setdefault(data["event_id"], []).append([data["available_slots"], data["waitlist_length"],
                                                             data["status"]])
        return {"latencies_ms": [round(x, 2) for x in self.latencies_ms], "states": states,
                "errors": self.errors, "ended": self.ended, "streams": len(self.streams)}


async def amain(spec_path: str) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(spec_path) as f:
        spec = json.load(f)
    holder = Holder(spec["url"], [tuple(s) for s in spec["streams"]])  # type: ignore[misc]
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(holder.run_stream(session, i, path, token, gate))
                 for i, (path, token) in enumerate(holder.streams)]
        await holder._opened.wait()
        print(f"READY {holder.first - holder.errors}", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while command := (await reader.readline()).decode().strip():
            if command == "reset":
                holder.latencies_ms = []
                print("OK", flush=True)
            elif command == "report":
                print(json.dumps(holder.report()), flush=True)
            elif command == "quit":
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    import uvloop
    uvloop.run(amain(sys.argv[1]))
