"""The sync position of each mirrored table, kept in the target database itself.

The position is written in the same transaction as the rows of the page it follows, so after a
crash the stored position never runs ahead of (or behind) the stored rows.

``phase`` tells where a table stands:

* ``full``: a full pass is under way; ``next_link`` is where it resumes (``None`` = not started).
* ``incremental``: an incremental pass is under way; ``next_link`` resumes it, and
  ``delta_link`` / ``watermark`` still hold the start of that pass.
* ``idle``: the last pass finished; the next run starts from ``delta_link`` (delta mode) or
  ``watermark`` (watermark mode).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = [
    "STATE_TABLE",
    "Mode",
    "Phase",
    "SyncPosition",
    "load_position",
    "load_positions",
    "metadata_for_state",
    "record_error",
    "save_position",
]

STATE_TABLE = "_d365leads_sync_state"

Mode = Literal["delta", "watermark"]
Phase = Literal["full", "incremental", "idle"]


def _state_table(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        STATE_TABLE,
        md,
        sa.Column("table_name", sa.String(100), primary_key=True),
        sa.Column("entity_set", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(20), nullable=True),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("next_link", sa.UnicodeText(), nullable=True),
        sa.Column("delta_link", sa.UnicodeText(), nullable=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pass_watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("select_signature", sa.UnicodeText(), nullable=False),
        sa.Column("pass_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pass_rows", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.UnicodeText(), nullable=True),
    )


_MD = sa.MetaData()
_TABLE = _state_table(_MD)


def metadata_for_state() -> sa.MetaData:
    """The metadata holding the state table (for ``create_all``)."""
    return _MD


def _utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every stored time is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


@dataclass
class SyncPosition:
    """Where the sync of one table stands (see the module docstring for ``phase``)."""

    table_name: str
    entity_set: str
    mode: Mode | None = None
    phase: Phase = "full"
    next_link: str | None = None
    delta_link: str | None = None
    watermark: datetime | None = None
    """Watermark mode: ``modifiedon`` of the newest row of the last finished pass."""
    pass_watermark: datetime | None = None
    """Newest ``modifiedon`` seen by the pass under way."""
    generation: int = 0
    """Number of the current (or last) full pass; rows it saw carry it in ``_sync_gen``."""
    select_signature: str = ""
    pass_started_at: datetime | None = None
    last_sync_at: datetime | None = None
    last_full_sync_at: datetime | None = None
    pass_rows: int = 0
    """Rows written by the pass under way (or the last one)."""
    last_error: str | None = None

    def as_row(self) -> dict[str, Any]:
        """The database row of this position."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_row(cls, row: Any) -> SyncPosition:
        """Read a position from a database row."""
        data = dict(row._mapping)
        for key in (
            "watermark",
            "pass_watermark",
            "pass_started_at",
            "last_sync_at",
            "last_full_sync_at",
        ):
            data[key] = _utc(data[key])
        return cls(**data)


def load_position(conn: Connection, table_name: str) -> SyncPosition | None:
    """The stored position of ``table_name``, or ``None`` when it was never synced."""
    row = conn.execute(sa.select(_TABLE).where(_TABLE.c.table_name == table_name)).first()
    return SyncPosition.from_row(row) if row is not None else None


def load_positions(conn: Connection) -> list[SyncPosition]:
    """Every stored position, by table name."""
    rows = conn.execute(sa.select(_TABLE).order_by(_TABLE.c.table_name))
    return [SyncPosition.from_row(r) for r in rows]


def save_position(conn: Connection, position: SyncPosition) -> None:
    """Write ``position`` (inside the caller's transaction)."""
    values = position.as_row()
    result = conn.execute(
        sa.update(_TABLE).where(_TABLE.c.table_name == position.table_name).values(values)
    )
    if not result.rowcount:
        conn.execute(sa.insert(_TABLE).values(values))


def record_error(conn: Connection, table_name: str, message: str) -> None:
    """Store why the last run of ``table_name`` failed, leaving its position untouched."""
    conn.execute(
        sa.update(_TABLE).where(_TABLE.c.table_name == table_name).values(last_error=message[:2000])
    )
