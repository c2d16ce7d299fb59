"""Ids: a process's name (host:pid: heartbeats, shard claims, database connections), and request and
correlation ids, unique, not secret, and cheaper than `uuid4` (no system call per id, which the booking
path would pay twice per request): a random per-process prefix and a counter."""
from __future__ import annotations

import itertools
import os
import secrets
import socket

_prefix = secrets.token_hex(8)
_counter = itertools.count()


def _reseed() -> None:
    global _prefix, _counter
    _prefix, _counter = secrets.token_hex(8), itertools.count()


os.register_at_fork(after_in_child=_reseed)  # a forked child must not repeat its parent's ids


def new_id() -> str:
    """32 hex digits, like `uuid4().hex`, unique across processes and restarts."""
    return f"{_prefix}{next(_counter):016x}"


def instance_name() -> str:
    """This process: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"
