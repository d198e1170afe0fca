"""The org as the FetchXML engine sees it (:class:`~d365leads.fake.fetchxml.FetchOrg`).

Tables and column types come from the tenant schema (custom columns count), rows from the
store, the caller from the request, the clock from the org, so ``last-x-days`` and
``eq-userid`` answer as the org would at that moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from .state import OrgState

__all__ = ["OrgFetchSource"]


class OrgFetchSource:
    """One org read by one caller (implements the engine's ``FetchOrg`` protocol)."""

    def __init__(self, org: OrgState, caller_id: str) -> None:
        self._org = org
        self._caller_id = caller_id

    def has_table(self, table: str) -> bool:
        """Whether ``table`` is a logical name of the org."""
        return table in self._org.schema.tables

    def column_type(self, table: str, column: str) -> str | None:
        """The schema type of ``table.column``, or ``None``."""
        meta = self._org.schema.tables.get(table)
        found = None if meta is None else meta.column(column)
        return None if found is None else found.type

    def columns(self, table: str) -> Iterable[str]:
        """Every column of ``table``."""
        return [column.name for column in self._org.schema.tables[table].columns]

    def primary_id(self, table: str) -> str:
        """The primary key column of ``table``."""
        return self._org.schema.tables[table].primary_key

    def rows(self, table: str) -> Iterable[Mapping[str, Any]]:
        """The rows of ``table`` (copies)."""
        return self._org.store.rows(table)

    def user_id(self) -> str:
        """The caller of the request."""
        return self._caller_id

    def business_unit_id(self) -> str:
        """The org's business unit (every fake user belongs to it)."""
        return self._org.business_unit_id

    def now(self) -> datetime:
        """The org's clock, as aware UTC."""
        now = self._org.clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
