"""OData literal quoting."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import pytest

from d365leads import InvalidIdError, InvalidInputError, literal
from d365leads.odata import normalize_guid


class Color(enum.Enum):
    RED = "red"


class State(enum.IntEnum):
    OPEN = 0
    QUALIFIED = 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "'plain'"),
        ("O'Bryan", "'O''Bryan'"),
        ("''", "''''''"),
        ("Zoë 東京 🚀", "'Zoë 東京 🚀'"),
        ("", "''"),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-42, "-42"),
        (1.5, "1.5"),
        (Decimal("12.50"), "12.50"),
        (Decimal("1E+3"), "1000"),
        (uuid.UUID("6F1C2C1E-0000-0000-0000-000000000001"), "6f1c2c1e-0000-0000-0000-000000000001"),
        (dt.date(2024, 2, 29), "2024-02-29"),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "2024-01-02T03:04:05Z"),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2024-01-02T01:04:05.12Z",
        ),
        (Color.RED, "'red'"),
        (State.QUALIFIED, "1"),
    ],
)
def test_literal(value: object, expected: str) -> None:
    assert literal(value) == expected


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="time zone"):
        literal(dt.datetime(2024, 1, 1))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), object(), [1], b"x"])
def test_unsupported_values_are_refused(value: object) -> None:
    with pytest.raises(InvalidInputError):
        literal(value)


def test_normalize_guid() -> None:
    canonical = "6f1c2c1e-0000-0000-0000-000000000001"
    assert normalize_guid("{6F1C2C1E-0000-0000-0000-000000000001}") == canonical
    assert normalize_guid(uuid.UUID(canonical)) == canonical
    for bad in ("", "6f1c2c1e", canonical + "0", f"{canonical}) or (1 eq 1", 12, None):
        with pytest.raises(InvalidIdError, match="not a GUID"):
            normalize_guid(bad)
