"""The audit trail: explicit inserts, made in the same transaction as the change they record."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from . import Conn

INSERT_AUDIT = """
insert into audit_log (org_id, actor_id, entity, entity_id, action, before, after)
values ($1, $2, $3, $4, $5, $6, $7)
"""


async def record(conn: Conn, *, org_id: UUID | None, actor_id: UUID | None, entity: str,
                 entity_id: UUID | None, action: str, before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None) -> None:
    """Write one audit row. `before`/`after` hold only the fields that changed (JSON-ready values)."""
    await conn.execute(INSERT_AUDIT, org_id, actor_id, entity, entity_id, action, before, after)


AUDIT_COLUMNS = ("org_id", "actor_id", "entity", "entity_id", "action", "before", "after")


async def record_many(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """Bulk form of `record` (COPY, rows in this order): tuples in the column order of INSERT_AUDIT."""
    if rows:
        await conn.copy_records_to_table("audit_log", records=rows, columns=AUDIT_COLUMNS)
