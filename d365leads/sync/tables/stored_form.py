"""Values in the form an SQLite mirror stores them, made without SQLAlchemy's bind processors.

SQLAlchemy stores a ``DateTime`` in SQLite as the text ``YYYY-MM-DD HH:MM:SS.ffffff`` (the
fields of the value as given, any time zone left out) and a ``Date`` as ``YYYY-MM-DD``; a
``Boolean`` as the integer 0 or 1; a ``Float`` as the float. A full mirror runs those
processors for hundreds of thousands of rows; here a row plan makes the stored value straight
from the wire text instead, and the SQLite upsert hands the row to the driver as it is. The
stored text is the same, byte for byte (``tests/sync/test_sync_stored_form.py`` compares
mirrors written both ways).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from d365leads.sync.tables.columns import ColumnKind, converter, parse_datetime

__all__ = ["STORED_KINDS", "stored_converter", "stored_datetime", "stored_time"]

STORED_KINDS = frozenset({"datetime", "date", "bool"})
"""The kinds whose stored form differs from the value the plain converter gives."""

_FORMAT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


def stored_time(value: datetime) -> str:
    """``value`` as SQLAlchemy's SQLite ``DateTime`` stores it (its fields; the zone dropped)."""
    return _FORMAT % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


@lru_cache(maxsize=8192)
def stored_datetime(text: str) -> str:
    """A Web API timestamp as stored: the UTC time :func:`parse_datetime` reads, as text."""
    # Dataverse sends whole seconds in UTC ("2024-05-01T10:00:00Z"): when the first 19
    # characters are exactly the ISO form of the time they parse to, they are its stored text.
    if len(text) == 20 and text[19] in "Zz":
        head = text[:19]
        try:
            exact = datetime.fromisoformat(head).isoformat() == head
        except ValueError:
            exact = False  # parse_datetime decides, and names the error
        if exact:
            return f"{head[:10]} {head[11:]}.000000"
    return stored_time(parse_datetime(text))


def stored_date(value: Any) -> str:
    """A date column's wire value as stored (``YYYY-MM-DD``)."""
    day = converter("date")(value)
    assert isinstance(day, date)
    return day.isoformat()


def _stored_datetime(value: Any) -> str:
    return stored_datetime(value if type(value) is str else str(value))


def _stored_bool(value: Any) -> int:
    return int(converter("bool")(value))


_STORED: dict[str, Callable[[Any], Any]] = {
    "datetime": _stored_datetime,
    "date": stored_date,
    "bool": _stored_bool,
}


def stored_converter(kind: ColumnKind) -> Callable[[Any], Any]:
    """The function turning a non-null wire value of ``kind`` into its SQLite stored value.

    Raises what :func:`~d365leads.sync.tables.columns.converter`'s function raises for a value
    it cannot read.
    """
    return _STORED.get(kind) or converter(kind)
