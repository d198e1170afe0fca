"""Per-table column specs of the mirror: what is selected, how each value is typed and stored.

A mirrored table has one typed column per modelled Dataverse attribute (named by its logical
name), lookups stored as the GUID they point to (``parentaccountid``, read from the wire
property ``_parentaccountid_value``), a ``<name>_label`` column next to ``statecode``,
``statuscode`` and choice columns (filled from the formatted-value annotation), plus the
bookkeeping columns ``_raw`` (the whole row as JSON, so tenant-specific columns are kept),
``_synced_at``, ``_deleted_at`` and ``_sync_gen``.

Columns a user adds with ``--select`` that are not modelled become ``extra`` columns: their
text (numbers and booleans as JSON) goes in a text column, and ``_raw`` keeps the typed value.
A type suffix makes a typed column instead: ``new_score:int`` (one of :data:`EXTRA_KINDS`).

The machinery is in :mod:`.columns` (a row as a dict) and :mod:`.row_plan` (a row as a list in
a fixed column order, for the prepared upsert), the four mirrored tables in :mod:`.catalog`.
"""

from __future__ import annotations

from d365leads.sync.tables.catalog import ACCOUNT, CONTACT, LEAD, OPPORTUNITY, TABLES, table_spec
from d365leads.sync.tables.columns import (
    EXTRA_KINDS,
    ColumnKind,
    ColumnSpec,
    TableSpec,
    convert,
    deleted_id,
    parse_datetime,
    row_builder,
)
from d365leads.sync.tables.row_plan import META_KEYS, PlannedRows, RowPlan

__all__ = [
    "ACCOUNT",
    "CONTACT",
    "EXTRA_KINDS",
    "LEAD",
    "META_KEYS",
    "OPPORTUNITY",
    "TABLES",
    "ColumnKind",
    "ColumnSpec",
    "PlannedRows",
    "RowPlan",
    "TableSpec",
    "convert",
    "deleted_id",
    "parse_datetime",
    "row_builder",
    "table_spec",
]
