"""The display text of a column value: what Dataverse puts in a ``FormattedValue`` annotation.

Shared by the column-by-column renderer (``serialize.py``) and the planned one
(``render_plan.py``), so both format the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..org.schema import Column

__all__ = ["format_date", "format_datetime", "format_number", "formatted_value"]


def format_number(value: float | int, decimals: int) -> str:
    """A number with thousands separators and ``decimals`` places, as Dataverse shows it."""
    return f"{value:,.{decimals}f}"


def format_datetime(text: str) -> str:
    """A stored date-time shown as ``M/D/YYYY h:mm AM`` (UTC; user time zones are not modelled)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    hour = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    return f"{when.month}/{when.day}/{when.year} {hour}:{when.minute:02d} {half}"


def format_date(text: str) -> str:
    """A date-only value shown as ``M/D/YYYY``."""
    try:
        year, month, day = (int(p) for p in text[:10].split("-"))
    except ValueError:
        return text
    return f"{month}/{day}/{year}"


def formatted_value(column: Column, value: Any) -> str | None:
    """The display text Dataverse gives a non-lookup value (``None`` when it gives none)."""
    if value is None:
        return None
    kind = column.type
    if kind in ("state", "status", "picklist"):
        return column.options.get(int(value), str(value))
    if kind == "bool":
        if column.options:
            return column.options.get(int(bool(value)), "Yes" if value else "No")
        return "Yes" if value else "No"
    if kind == "money":
        return "$" + format_number(float(value), 2)
    if kind in ("int", "bigint"):
        return format_number(int(value), 0)
    if kind == "decimal":
        return format_number(float(value), 2)
    if kind == "datetime":
        return format_datetime(str(value))
    if kind == "date":
        return format_date(str(value))
    return None
