"""Turn typed records into rows for the renderers (shared by the lead commands and the demo)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import Any

from d365leads.models import DataverseModel, Lead, Lookup

__all__ = [
    "LIST_COLUMNS",
    "lead_row",
    "link_rows",
    "lookup_text",
    "record_dict",
    "record_row",
    "status_label",
]

#: Columns of ``leads list`` when ``--select`` is not given.
LIST_COLUMNS = ("leadid", "fullname", "companyname", "subject", "status", "owner", "createdon")


def _title(value: IntEnum) -> str:
    return value.name.replace("_", " ").title()


def status_label(record: DataverseModel) -> str:
    """``Disqualified/Cannot Contact`` style label (tenant labels when the org sent them)."""
    raw_state = getattr(record, "statecode", None)
    state = record.formatted("statecode") or (
        _title(raw_state) if isinstance(raw_state, IntEnum) else str(raw_state or "")
    )
    raw = getattr(record, "statuscode", None)
    status = record.formatted("statuscode")
    if status is None and raw is not None:
        status = _title(raw) if isinstance(raw, IntEnum) else str(int(raw))
    if not state:
        return status or ""
    return f"{state}/{status}" if status else state


def lookup_text(value: Lookup | None) -> str | None:
    """A lookup for people: its name, else ``table id``."""
    if value is None:
        return None
    return value.name or (f"{value.table} {value.id}" if value.table else str(value.id))


def record_row(record: DataverseModel, columns: Sequence[str]) -> dict[str, Any]:
    """One row of a ``list`` command: the requested columns, with lookups shown by name and
    ``status`` as the state/status label."""
    row: dict[str, Any] = {}
    for column in columns:
        if column == "status":
            row[column] = status_label(record)
        elif column == "owner":
            row[column] = lookup_text(record.lookup("ownerid"))
        elif column in type(record).lookups:
            row[column] = lookup_text(record.lookup(column))
        elif column.startswith("_") and column.endswith("_value"):
            row[column] = lookup_text(record.lookup(column[1:-6]))
        else:
            value = getattr(record, column, None)
            if value is None:
                value = record.extra.get(column)
            row[column] = value
    return row


def lead_row(lead: Lead, columns: Sequence[str] = LIST_COLUMNS) -> dict[str, Any]:
    """One row of ``leads list`` (see :func:`record_row`)."""
    return record_row(lead, columns)


def record_dict(record: DataverseModel) -> dict[str, Any]:
    """Every column with a value, primary key first; lookups as ``{id, table, name}``."""
    data: dict[str, Any] = {}
    pk = record.primary_key
    if record.id is not None:
        data[pk] = record.id
    if record.state_enum is not None and getattr(record, "statecode", None) is not None:
        data["status"] = status_label(record)
    for name in type(record).model_fields:
        if name == pk:
            continue
        value = getattr(record, name, None)
        if value is None:
            continue
        if isinstance(value, Lookup):
            value = {"id": value.id, "table": value.table, "name": value.name}
        data[name] = value
    for name, value in record.extra.items():
        if value is not None and name not in data:
            data[name] = value
    return data


def link_rows(records: Mapping[str, DataverseModel | None], lead_id: Any) -> list[dict[str, Any]]:
    """The links between a qualified lead and what qualification created.

    Each row: ``from`` (table), ``column``, ``to`` (table), ``to_id``, ``to_name`` and ``ok``:
    True when the link points at the lead or a record created with it, False when it should
    but points elsewhere, None for links to other records (currency, campaign, ...).
    """
    known: dict[str, Any] = {"lead": lead_id}
    for table, record in records.items():
        if record is not None:
            known[table] = record.id
    rows: list[dict[str, Any]] = []
    for table, record in records.items():
        if record is None:
            continue
        for column in type(record).lookups:
            if column in {"ownerid", "owninguser", "createdby", "modifiedby"}:
                continue
            ref = record.lookup(column)
            if ref is None:
                continue
            target = ref.table or "?"
            rows.append(
                {
                    "from": table,
                    "column": column,
                    "to": target,
                    "to_id": ref.id,
                    "to_name": ref.name,
                    "ok": (known[target] == ref.id) if target in known else None,
                }
            )
    return rows
