"""sort_rows' per-kind (and kept) sort keys order rows exactly as one key per comparison would."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from d365leads.fake.org.tables import table
from d365leads.fake.wire.odata_sort import _sort_value, sort_rows

LEAD = table("lead")
COLUMNS = {
    "leadid": st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()) | st.just("x-1"),
    "subject": st.text(max_size=4) | st.integers(-3, 3),
    "createdon": st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    | st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    "estimatedclosedate": st.dates(min_value=date(2020, 1, 1)).map(str) | st.dates(),
    "estimatedamount": st.floats(-1e6, 1e6) | st.decimals(-100, 100, places=2) | st.integers(),
    "numberofemployees": st.integers(-5, 5) | st.booleans() | st.floats(-5, 5).map(round),
    "donotemail": st.booleans(),
}


def _reference(rows: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[Any]:
    """The order with the key computed in place for every row by ``_sort_value``."""
    result = list(rows)
    for name, descending in reversed(keys):
        column = LEAD.column(name)
        nulls = [r for r in result if r.get(name) is None]
        valued = [r for r in result if r.get(name) is not None]
        valued.sort(key=lambda r: _sort_value(r[name], column), reverse=descending)
        result = valued + nulls if descending else nulls + valued
    return [r["n"] for r in result]


@settings(max_examples=150, deadline=None)
@given(
    st.data(),
    st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=3, unique=True),
    st.lists(st.booleans(), min_size=3, max_size=3),
    st.integers(0, 25),
)
def test_sort_rows_agrees_with_a_key_per_row(
    data: st.DataObject, names: list[str], directions: list[bool], count: int
) -> None:
    rows = [
        {"n": i, **{name: data.draw(st.none() | COLUMNS[name]) for name in names}}
        for i in range(count)
    ]
    keys = list(zip(names, directions[: len(names)], strict=True))
    # Twice: the second run reads the keys kept by the first.
    for _ in range(2):
        assert [r["n"] for r in sort_rows(rows, keys, LEAD)] == _reference(rows, keys)


def test_kept_keys_order_mixed_forms_of_one_value_kind() -> None:
    """GUIDs in SQL Server order whatever their case or form, date-times as instants whether
    text or datetime, read again from the kept keys on the second pass."""
    later = "e9a8c72c-0000-0000-0000-000000000002"
    earlier = uuid.UUID("c206f534-0000-0000-0000-000000000001")
    rows = [{"n": 0, "leadid": later.upper()}, {"n": 1, "leadid": earlier}]
    when = datetime(2024, 1, 2, 10, tzinfo=timezone.utc)
    dated = [{"n": 0, "createdon": "2024-01-02T09:30:00-01:00"}, {"n": 1, "createdon": when}]
    for _ in range(2):
        assert [r["n"] for r in sort_rows(rows, [("leadid", False)], LEAD)] == [1, 0]
        assert [r["n"] for r in sort_rows(dated, [("createdon", False)], LEAD)] == [1, 0]
