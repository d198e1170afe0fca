"""What the FetchXML engine needs from the org it queries (the fake implements it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

__all__ = ["COLUMN_TYPES", "FetchOrg"]

#: Column types the engine understands (the fake's schema types, plus ``double``).
COLUMN_TYPES: frozenset[str] = frozenset(
    {
        "string", "memo", "int", "bigint", "decimal", "money", "double", "bool", "datetime",
        "date", "guid", "picklist", "state", "status", "lookup", "customer", "owner",
    }
)  # fmt: skip


class FetchOrg(Protocol):
    """The org seen by a query: tables, column types, the caller and the clock.

    Rows hold values as the fake stores them: lookups and ids as GUID text, ``datetime``
    columns as ISO-8601 UTC text (or aware datetimes), ``date`` columns as ``YYYY-MM-DD``.
    """

    def has_table(self, table: str) -> bool:
        """Whether ``table`` (a logical name) exists."""
        ...

    def column_type(self, table: str, column: str) -> str | None:
        """The type of ``table.column`` (see :data:`COLUMN_TYPES`); ``None``: no such column."""
        ...

    def columns(self, table: str) -> Iterable[str]:
        """Every column of ``table`` (what ``<all-attributes/>`` reads)."""
        ...

    def primary_id(self, table: str) -> str:
        """The primary key column of ``table`` (``leadid``)."""
        ...

    def rows(self, table: str) -> Iterable[Mapping[str, Any]]:
        """The rows of ``table`` (read only; the engine never changes them)."""
        ...

    def user_id(self) -> str:
        """The calling user's id (``eq-userid``)."""
        ...

    def business_unit_id(self) -> str:
        """The calling user's business unit id (``eq-businessid``)."""
        ...

    def now(self) -> datetime:
        """The current time, timezone-aware UTC (the date operators' clock)."""
        ...
