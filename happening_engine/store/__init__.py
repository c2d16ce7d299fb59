"""Raw asyncpg SQL, by aggregate."""
from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection a write runs on inside its transaction: one of its own, or one lent by the pool.
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy
# What a read may run on: the pool (one statement, any connection) or a connection (inside a transaction).
Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy
