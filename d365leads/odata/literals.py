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

_HEX32 = r"[0-9a-fA-F]{32}"
_GROUPED = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = re.compile(
    rf"(?:[uU][rR][nN]:[uU][uU][iI][dD]:)?(?P<bare>{_GROUPED}|{_HEX32})"
    rf"|\{{(?P<braced>{_GROUPED}|{_HEX32})\}}"
)
_GUID_FORMS = (
    "expected the form 00000000-0000-0000-0000-000000000000 (braces, urn:uuid:, upper case "
    "and the 32 digits without hyphens are accepted too)"
)


def normalize_guid(value: object, *, what: str = "record id") -> str:
    """Return ``value`` as a lower-case canonical GUID string or raise ``InvalidIdError``.

    The one rule for GUIDs in d365leads (ids, lookups, id files, CLI options): a
    :class:`uuid.UUID`, or a string holding the 32 hex digits of a GUID, in any case, either
    grouped 8-4-4-4-12 with hyphens or with no hyphens at all, optionally in one pair of braces
    (``{...}``) or after ``urn:uuid:``, with surrounding whitespace ignored. So
    ``" {6F1C2C1E-0000-0000-0000-000000000001} "``, ``"6f1c2c1e000000000000000000000001"`` and
    ``"urn:uuid:6f1c2c1e-0000-0000-0000-000000000001"`` are all the same id. Anything else is
    refused rather than guessed at: hyphens in other places, unbalanced braces, inner spaces,
    a wrong number of digits, or braces around a ``urn:uuid:``.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        match = _GUID.fullmatch(value.strip())
        if match:
            digits = (match.group("bare") or match.group("braced")).replace("-", "").lower()
            return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise InvalidIdError(f"{what} {shown} is not a GUID: {_GUID_FORMS}")


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
