"""What a FetchXML mirror remembers beside its sync position: the query it was built from (and
its hash) and how many runs have passed since its last reconciliation.

The row is written in the same transaction as the sync position, so a mirror never has a
position without its query (or the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "FETCH_MIRRORS_TABLE",
    "FetchMirror",
    "fetch_mirror_tables",
    "load_fetch_mirror",
    "prepare_fetch_mirrors",
    "save_fetch_mirror",
]

FETCH_MIRRORS_TABLE = "_d365leads_fetch_mirrors"

_MD = sa.MetaData()
_TABLE = sa.Table(
    FETCH_MIRRORS_TABLE,
    _MD,
    sa.Column("table_name", sa.String(100), primary_key=True),
    sa.Column("fetchxml_sha256", sa.String(64), nullable=False),
    sa.Column("fetchxml", sa.UnicodeText(), nullable=False),
    sa.Column("runs_since_reconcile", sa.Integer(), nullable=False),
    sa.Column("last_reconcile_at", sa.DateTime(timezone=True), nullable=True),
)


@dataclass
class FetchMirror:
    """The FetchXML a mirror follows and its reconciliation count."""

    table_name: str
    fetchxml_sha256: str
    fetchxml: str
    runs_since_reconcile: int = 0
    """Finished runs since the last full pass or reconciliation."""
    last_reconcile_at: datetime | None = None


def prepare_fetch_mirrors(engine: Engine) -> None:
    """Create the table of FetchXML mirrors if it does not exist."""
    _MD.create_all(engine, checkfirst=True)


def load_fetch_mirror(conn: Connection, table_name: str) -> FetchMirror | None:
    """The FetchXML mirror record of ``table_name``, or ``None`` (not a FetchXML mirror)."""
    row = conn.execute(sa.select(_TABLE).where(_TABLE.c.table_name == table_name)).first()
    if row is None:
        return None
    data = dict(row._mapping)
    when = data["last_reconcile_at"]
    if when is not None and when.tzinfo is None:
        data["last_reconcile_at"] = when.replace(tzinfo=timezone.utc)
    return FetchMirror(**data)


def fetch_mirror_tables(conn: Connection) -> set[str]:
    """The tables of this database that are FetchXML mirrors."""
    if not sa.inspect(conn).has_table(FETCH_MIRRORS_TABLE):
        return set()
    return set(conn.execute(sa.select(_TABLE.c.table_name)).scalars())


def save_fetch_mirror(conn: Connection, mirror: FetchMirror) -> None:
    """Write ``mirror`` (inside the caller's transaction)."""
    values = {
        "table_name": mirror.table_name,
        "fetchxml_sha256": mirror.fetchxml_sha256,
        "fetchxml": mirror.fetchxml,
        "runs_since_reconcile": mirror.runs_since_reconcile,
        "last_reconcile_at": mirror.last_reconcile_at,
    }
    result = conn.execute(
        sa.update(_TABLE).where(_TABLE.c.table_name == mirror.table_name).values(values)
    )
    if not result.rowcount:
        conn.execute(sa.insert(_TABLE).values(values))
