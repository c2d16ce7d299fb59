"""The wire format between APIs and an engine shard: many commands in one AMQP message, many replies in one.

A command batch is what one API sent to one shard in one go (`routing.py` batches per event-loop turn):
`{"commands": [{"id", "map", "type", "body", "deadline"}, ...]}`, where `id` is the command's correlation
id (the reply names it), `map` the shard map version it was routed by and `deadline` the Unix time after
which it must have no effect. The message's signature (`signing.py`) covers the whole body, so every
command, deadline and request id in it is signed. A reply batch goes back to one API's reply queue:
`{"replies": [{"id", "ok", "result"} | {"id", "ok", "error", "detail", "field", "extra"}, ...]}`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiormq
import orjson
from aiormq.abc import AbstractChannel

from .commands import Command, from_wire, to_wire
from .errors import ERROR_TYPES, DomainError, Unavailable

Replies = tuple[AbstractChannel, list[dict[str, Any]]]  # one message's replies, and the channel it came on


@dataclass(frozen=True, slots=True)
class Entry:
    """One command of a batch as the engine reads it; `command` is None when it could not be read."""

    id: str
    command: Command | None
    deadline: float | None
    map_version: int


def entry(correlation: str, command: Command, deadline: float, map_version: int) -> dict[str, Any]:
    """A command as it travels in a batch."""
    return {"id": correlation, "map": map_version, **to_wire(command, deadline)}


def encode_commands(entries: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"commands": entries})


def decode_commands(body: bytes) -> list[Entry]:
    """The batch's commands, in the order they were sent. Raises ValueError if the body is not a batch;
    an entry that names its id but not a readable command is returned with `command=None`."""
    data = orjson.loads(body)
    raw = data.get("commands") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not all(isinstance(e, dict) and isinstance(e.get("id"), str) for e in raw):
        raise ValueError("not a command batch")
    return [_entry(e) for e in raw]


def _entry(raw: dict[str, Any]) -> Entry:
    try:
        deadline = raw.get("deadline")
        return Entry(raw["id"], from_wire(raw), None if deadline is None else float(deadline),
                     int(raw.get("map") or 0))
    except (ValueError, KeyError, TypeError):
        return Entry(raw["id"], None, None, 0)


def reply_ok(correlation: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"id": correlation, "ok": True, "result": result}


def reply_error(correlation: str, exc: DomainError) -> dict[str, Any]:
    return {"id": correlation, "ok": False, "error": type(exc).__name__, "detail": exc.detail, "field": exc.field,
            "extra": exc.extra}


def encode_replies(replies: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"replies": replies})


def decode_replies(body: bytes) -> Iterator[tuple[str, dict[str, Any] | DomainError]]:
    """(correlation id, result or the engine's refusal as an exception) for each reply of the batch."""
    for reply in orjson.loads(body)["replies"]:
        if reply["ok"]:
            yield reply["id"], reply["result"]
        else:
            error = ERROR_TYPES.get(reply["error"], Unavailable)
            yield reply["id"], error(reply["detail"], field=reply.get("field"), **(reply.get("extra") or {}))


async def publish_replies(reply_to: str, items: list[Replies]) -> list[None]:
    """The replies of several messages to one API, in one message per channel they came on."""
    by_channel: dict[AbstractChannel, list[dict[str, Any]]] = defaultdict(list)
    for channel, replies in items:
        by_channel[channel].extend(replies)
    for channel, replies in by_channel.items():
        await channel.basic_publish(encode_replies(replies), routing_key=reply_to,
                                    properties=aiormq.spec.Basic.Properties(content_type="application/json"))
    return [None] * len(items)
