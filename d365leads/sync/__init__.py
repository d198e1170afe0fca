"""Mirror Dataverse tables into a database (pull), upsert leads from CSV (push), report status.

The database is reached through SQLAlchemy Core: an SQLite file by default, PostgreSQL or SQL
Server by URL. See :func:`pull`, :func:`pull_fetchxml` (a filtered mirror of one FetchXML
query), :func:`push_csv` and :func:`sync_status`.
"""

from __future__ import annotations

from d365leads.sync.pull import (
    DeleteMode,
    PageDone,
    PullResult,
    TableResult,
    pull,
    pull_fetchxml,
)
from d365leads.sync.state import SyncPosition
from d365leads.sync.tables import TABLES, ColumnSpec, TableSpec, table_spec
from d365leads.sync.target import DEFAULT_URL, SyncTarget

__all__ = [
    "DEFAULT_URL",
    "TABLES",
    "ColumnSpec",
    "DeleteMode",
    "PageDone",
    "PullResult",
    "SyncPosition",
    "SyncTarget",
    "TableResult",
    "TableSpec",
    "pull",
    "pull_fetchxml",
    "table_spec",
]
