"""Python values as OData v4 literals, quoted so that no value can change a query's structure.

Strings are single-quoted with embedded quotes doubled (``'O''Bryan'``); GUIDs are bare
(``Edm.Guid`` literal syntax); aware datetimes are converted to UTC and written with ``Z``;
dates as ``YYYY-MM-DD``; ``None`` as ``null``; enums by their value.
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows)
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import uuid
from decimal import Decimal
from enum import Enum

from d365leads.errors import InvalidIdError, InvalidInputError

__all__ = ["LiteralValue", "literal", "normalize_guid"]

LiteralValue = (
    str | int | float | bool | Decimal | uuid.UUID | _dt.datetime | _dt.date | Enum | None
)

_GUID = re.compile(
    r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$"
)


def normalize_guid(value: object, *, what: str = "record id") -> str:
    """Return ``value`` as a lower-case canonical GUID string or raise ``InvalidIdError``.

    Accepts :class:`uuid.UUID` and strings in the 8-4-4-4-12 form (optionally in braces).
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        match = _GUID.match(value.strip())
        if match:
            return match.group(1).lower()
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise InvalidIdError(
        f"{what} {shown} is not a GUID: expected the form 00000000-0000-0000-0000-000000000000"
    )


def _datetime(value: _dt.datetime) -> str:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidInputError(
            f"datetime {value.isoformat()} has no time zone: attach one "
            "(e.g. datetime.now(timezone.utc)) so the instant is unambiguous"
        )
    utc = value.astimezone(_dt.timezone.utc)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def literal(value: object) -> str:
    """Return ``value`` as OData literal text, or raise ``InvalidInputError`` for other types."""
    if isinstance(value, Enum):
        return literal(value.value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{value!r} cannot be used in a query: use a finite number")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInputError(f"{value!r} cannot be used in a query: use a finite number")
        return format(value, "f")
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, _dt.datetime):
        return _datetime(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    raise InvalidInputError(
        f"{type(value).__name__} values cannot be used in a query: use str, int, float, "
        "Decimal, bool, UUID, date, datetime, an Enum or None"
    )
