"""EDM typing of ``$filter`` operands: column types, operand compatibility, stored values.

Comparisons are typed by the schema column (date-times as instants, money as decimals, GUIDs
case-insensitive); string functions take a T-SQL ``LIKE`` pattern as in Dataverse.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

from ..core.fault import CODE_BAD_QUERY, FakeFault
from ..org.schema import Column
from .odata_lexer import OP_KIND, parse_datetime

__all__ = [
    "NUMERIC",
    "TEMPORAL",
    "check_compatible",
    "edm_of_column",
    "like_pattern",
    "normalize_value",
]

NUMERIC = {"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double"}
TEMPORAL = {"Edm.DateTimeOffset", "Edm.Date"}


def edm_of_column(column: Column) -> str:
    """The EDM type a column compares as (``Edm.String``, ``Edm.Decimal``, …)."""
    return {
        "string": "Edm.String",
        "memo": "Edm.String",
        "int": "Edm.Int32",
        "bigint": "Edm.Int64",
        "decimal": "Edm.Decimal",
        "money": "Edm.Decimal",
        "bool": "Edm.Boolean",
        "datetime": "Edm.DateTimeOffset",
        "date": "Edm.Date",
        "guid": "Edm.Guid",
        "picklist": "Edm.Int32",
        "state": "Edm.Int32",
        "status": "Edm.Int32",
        "lookup": "Edm.Guid",
        "customer": "Edm.Guid",
        "owner": "Edm.Guid",
    }[column.type]


def check_compatible(op: str, a: str, b: str, text: str) -> None:
    """Refuse comparing EDM types ``a`` and ``b`` with ``op`` when the platform does (400)."""
    if a == "null" or b == "null" or a == b:
        return
    if a in NUMERIC and b in NUMERIC:
        return
    if a in TEMPORAL and b in TEMPORAL:
        return
    raise FakeFault(
        400,
        CODE_BAD_QUERY,
        "A binary operator with incompatible types was detected. Found operand types "
        f"'{a}' and '{b}' for operator kind '{OP_KIND[op]}'.",
    )


# --- values -------------------------------------------------------------------------------


def normalize_value(column: Column, value: Any) -> Any:
    """Bring a stored or literal ``value`` to the comparable form for ``column``'s type.

    Strings stay strings (compared case-insensitively elsewhere), numbers become ``int`` or
    ``Decimal``, date-times become aware UTC ``datetime`` (ISO strings are parsed, naive values
    are UTC), dates become ``date``, GUIDs and lookups lower-case strings.  ``None`` stays
    ``None``.
    """
    if value is None:
        return None
    kind = column.type
    if kind in ("int", "bigint", "picklist", "state", "status"):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (int, Decimal)) and value == int(value):
            return int(value)
        return Decimal(str(value))
    if kind in ("decimal", "money"):
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if kind == "bool":
        return bool(value)
    if kind == "datetime":
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            return aware.astimezone(timezone.utc)
        if isinstance(value, date):
            return datetime.combine(value, time(0), tzinfo=timezone.utc)
        return parse_datetime(str(value))
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        return date.fromisoformat(str(value)[:10])
    if kind in ("guid", "lookup", "customer", "owner"):
        return str(value).lower()
    return str(value)


def like_pattern(text: str) -> str:
    """Translate a T-SQL ``LIKE`` pattern (as Dataverse applies to ``contains`` & co.) to regex.

    ``%`` is any run of characters, ``_`` one character, ``[abc]``/``[a-f]`` one of a set and
    ``[^abc]`` one not in it; ``[%]`` is a literal ``%``.  An unclosed ``[`` is literal.
    https://learn.microsoft.com/power-apps/developer/data-platform/wildcard-characters
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[":
            end = text.find("]", i + 2)
            if end < 0:
                out.append(re.escape(ch))
            else:
                inner = text[i + 1 : end]
                negate = inner.startswith("^") and len(inner) > 1
                members = inner[1:] if negate else inner
                parts: list[str] = []
                j = 0
                while j < len(members):
                    if j + 2 < len(members) and members[j + 1] == "-":
                        parts.append(f"{re.escape(members[j])}-{re.escape(members[j + 2])}")
                        j += 3
                    else:
                        parts.append(re.escape(members[j]))
                        j += 1
                out.append(f"[{'^' if negate else ''}{''.join(parts)}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)
