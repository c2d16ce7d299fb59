"""Raw asyncpg SQL, by aggregate."""
from __future__ import annotations

from typing import TypeAlias

import asyncpg

# What a read may run on: the pool (one statement, any connection) or a connection (inside a transaction).
Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection
