"""Tenant customisations of one org: add columns and alternate keys, checked like Dataverse.

The customisations live in ``FakeOptions.custom_columns``/``alternate_keys`` (so they are per
org and survive ``options.replace``); :class:`~d365leads.fake.org.tenant.TenantSchema` merges
them into the catalogue on every look-up.
"""

from __future__ import annotations

from typing import Any

from .schema import Table
from .state import OrgState
from .tenant import TenantSchema

__all__ = ["add_alternate_key", "add_column"]


def add_column(org: OrgState, table_name: str, name: str, type: str) -> None:
    """Add the tenant column ``name`` of ``type`` to ``table_name`` (logical or set name).

    ``type`` is one of ``string``, ``memo``, ``int``, ``bigint``, ``decimal``, ``money``,
    ``bool``, ``datetime``, ``date`` or ``lookup:<table>``.  The name needs a publisher
    prefix and an underscore (``new_score``) and must not clash with a column of the table;
    otherwise ``ValueError`` says what is wrong.  Kept in ``options.custom_columns``.
    """
    meta = _table(org, table_name)
    entry = (meta.logical_name, name, type)
    TenantSchema.build(((*org.options.custom_columns, entry), org.options.alternate_keys))
    org.options.custom_columns = (*org.options.custom_columns, entry)


def add_alternate_key(org: OrgState, table_name: str, *columns: str) -> None:
    """Define an alternate key of ``table_name`` on ``columns`` (built-in or tenant columns).

    Rows are then addressable as ``leads(emailaddress1='a@example.com')`` and the key's
    values must be unique (``0x80040237``).  ``ValueError`` when a column is unknown or of a
    type keys cannot use, the key exists already, or existing rows share a key value (as
    Dataverse's key activation fails).  Kept in ``options.alternate_keys``.
    """
    meta = _table(org, table_name)
    entry = (meta.logical_name, tuple(columns))
    tables = TenantSchema.build((org.options.custom_columns, (*org.options.alternate_keys, entry)))
    _check_key_unique(org, tables[meta.logical_name], tuple(columns))
    org.options.alternate_keys = (*org.options.alternate_keys, entry)


def _table(org: OrgState, table_name: str) -> Table:
    try:
        return org.schema.table_named(table_name)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None


def _check_key_unique(org: OrgState, meta: Table, columns: tuple[str, ...]) -> None:
    seen: dict[tuple[Any, ...], str] = {}
    for row in org.store.rows(meta.logical_name):
        values = tuple(
            v.casefold() if isinstance(v, str) else v for v in (row.get(c) for c in columns)
        )
        if any(v is None for v in values):
            continue
        other = seen.setdefault(values, str(row[meta.primary_key]))
        if other != row[meta.primary_key]:
            raise ValueError(
                f"alternate key ({', '.join(columns)}) on {meta.logical_name}: rows {other} "
                f"and {row[meta.primary_key]} share the value(s) {values!r}; make them "
                "unique first"
            )
