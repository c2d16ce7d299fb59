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
from pathlib import Path
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


class Clients:
    """This module as processes, as `loadtests.stream_bench` drives them (their line protocol is above)."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, url: str, streams: list[tuple[str, str]], count: int, workdir: Path) -> int:
        for i in range(count):
            spec = workdir / f"streams-{i}.json"
            spec.write_text(json.dumps({"url": url, "streams": streams[i::count]}))
            self.procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loadtests.stream_clients", str(spec), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=(workdir / f"streams-{i}.err").open("wb"),
                limit=1 << 28))  # a report carries every latency sample on one line
        ready = [await asyncio.wait_for(self._line(p), 600) for p in self.procs]
        return sum(int(line.split()[1]) for line in ready)

    @staticmethod
    async def _line(proc: asyncio.subprocess.Process) -> str:
        assert proc.stdout is not None
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise RuntimeError("a stream client exited; see its streams-N.err")
        return line

    async def ask(self, command: str) -> list[str]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{command}\n".encode())
            await proc.stdin.drain()
        return [await asyncio.wait_for(self._line(p), 120) for p in self.procs]

    async def report(self) -> dict[str, Any]:
        merged: dict[str, Any] = {"latencies_ms": [], "states": {}, "errors": 0, "ended": 0}
        for line in await self.ask("report"):
            part = json.loads(line)
            merged["latencies_ms"] += part["latencies_ms"]
            merged["errors"] += part["errors"]
            merged["ended"] += part["ended"]
            for event_id, states in part["states"].items():
                merged["states"].setdefault(event_id, []).extend(states)
        return merged

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None and proc.stdin is not None:
                proc.stdin.write(b"quit\n")
                proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()


async def amain(spec_path: str) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(spec_path) as f:
        spec = json.load(f)
    holder = Holder(spec["url"], [tuple(s) for s in spec["streams"]])
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
