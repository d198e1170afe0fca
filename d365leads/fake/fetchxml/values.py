"""Typed values: stored cells and condition text read as comparable Python values.

Text compares case-insensitively (Dataverse's default collation); GUIDs compare as
lower-case text without braces; dates and times compare as aware UTC datetimes (the fake has
no user time zone, so "the user's day" is the UTC day).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import invalid_value

__all__ = [
    "GUID_TYPES",
    "NUMBER_TYPES",
    "TEXT_TYPES",
    "comparable",
    "parse_value",
    "to_datetime",
]

TEXT_TYPES = frozenset({"string", "memo"})
INT_TYPES = frozenset({"int", "bigint", "picklist", "state", "status"})
NUMBER_TYPES = INT_TYPES | frozenset({"decimal", "money", "double"})
GUID_TYPES = frozenset({"guid", "lookup", "customer", "owner"})
DATE_TYPES = frozenset({"datetime", "date"})


def to_datetime(value: Any) -> datetime | None:
    """A stored or written date/time as an aware UTC datetime (``None`` if it is not one)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=timezone.utc)
    text = str(value).strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def comparable(kind: str, value: Any) -> Any:
    """A stored cell as a value that compares the way Dataverse compares it."""
    if value is None:
        return None
    if kind in TEXT_TYPES:
        return str(value).casefold()
    if kind in GUID_TYPES:
        return str(value).strip("{}").lower()
    if kind in DATE_TYPES:
        return to_datetime(value)
    if kind == "bool":
        return bool(value)
    if kind in INT_TYPES:
        return int(value)
    if kind in NUMBER_TYPES:
        return Decimal(str(value))
    return value


def parse_value(kind: str, text: str, *, table: str, column: str) -> Any:
    """A condition's ``value`` text read as the column's type; ``FetchXmlError`` if it is not."""
    raw = text.strip()
    if kind in TEXT_TYPES:
        return text.casefold()
    if kind in GUID_TYPES:
        try:
            return str(uuid.UUID(raw.strip("{}")))
        except ValueError:
            raise invalid_value(table, column, text, "GUID") from None
    if kind in DATE_TYPES:
        when = to_datetime(raw)
        if when is None:
            raise invalid_value(table, column, text, "date and time")
        return when
    if kind == "bool":
        lowered = raw.lower()
        if lowered in ("1", "true"):
            return True
        if lowered in ("0", "false"):
            return False
        raise invalid_value(table, column, text, "Boolean (0 or 1)")
    if kind in INT_TYPES:
        try:
            return int(raw)
        except ValueError:
            raise invalid_value(table, column, text, "whole number") from None
    if kind in NUMBER_TYPES:
        try:
            return Decimal(raw)
        except InvalidOperation:
            raise invalid_value(table, column, text, "number") from None
    return raw
