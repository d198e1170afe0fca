"""RowPlan: the positional row of the prepared upsert equals row_builder's dict, cell for cell."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d365leads import _wire
from d365leads.errors import SyncError
from d365leads.sync.tables import LEAD, META_KEYS, ColumnSpec, RowPlan, TableSpec, row_builder

NOW = datetime(2026, 12, 3, 18, 0, tzinfo=timezone.utc)
KEY = "0F8FAD5B-D9CB-469F-A165-70867728950E"

_SAMPLES: dict[str, st.SearchStrategy[Any]] = {
    "guid": st.uuids().map(lambda u: str(u).upper()),
    "lookup": st.uuids().map(str),
    "customer": st.uuids().map(str),
    "owner": st.uuids().map(str),
    "string": st.text(max_size=5) | st.integers(),
    "memo": st.text(max_size=5),
    "int": st.integers(-(2**31), 2**31),
    "bigint": st.integers(),
    "choice": st.integers(0, 10**6),
    "state": st.integers(0, 3),
    "status": st.integers(0, 10),
    "decimal": st.floats(allow_nan=False, allow_infinity=False),
    "money": st.floats(allow_nan=False, allow_infinity=False),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
    "datetime": st.datetimes(datetime(1900, 1, 1), timezones=st.just(timezone.utc)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
    ),
    "date": st.dates().map(lambda d: d.isoformat()),
    "extra": st.text(max_size=5) | st.integers() | st.lists(st.integers(), max_size=2),
}


def _expected(columns: tuple[ColumnSpec, ...], wire: dict[str, Any], raw: Any) -> dict[str, Any]:
    """What the pull stored per row before the plan: row_builder plus key and bookkeeping."""
    out = row_builder(columns)(wire)
    out[LEAD.primary_key] = str(wire[LEAD.primary_key]).lower()
    out.update(_raw=raw, _synced_at=NOW, _deleted_at=None, _sync_gen=7)
    return out


@st.composite
def _wire_rows(draw: st.DrawFn, columns: tuple[ColumnSpec, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {LEAD.primary_key: KEY}
    for col in columns:
        if col.name == LEAD.primary_key:
            continue
        shape = draw(st.sampled_from(["value", "null", "absent"]))
        if shape == "absent":
            continue
        row[col.wire_property] = None if shape == "null" else draw(_SAMPLES[col.kind])
        if col.label_column and draw(st.booleans()):
            row[col.wire_property + _wire.ANNOTATION_FORMATTED] = draw(
                st.text(max_size=4) | st.integers()
            )
        if col.type_column and draw(st.booleans()):
            row[col.wire_property + _wire.ANNOTATION_LOOKUP_LOGICAL_NAME] = draw(
                st.sampled_from(["account", "contact"]) | st.none()
            )
    return row


_EXTRAS = LEAD.with_extras(["new_note", "new_score:int", "new_when:datetime", "_new_ref_value"])


_PLAN = RowPlan(LEAD, _EXTRAS)


@settings(max_examples=60, deadline=None)
@given(_wire_rows(_EXTRAS))
def test_a_planned_row_holds_exactly_what_row_builder_gives(wire: dict[str, Any]) -> None:
    plan = _PLAN
    values = plan.row(wire, '{"raw": 1}', 7, NOW)
    assert len(values) == len(plan.keys) == len(set(plan.keys))
    assert plan.keys[-len(META_KEYS) :] == META_KEYS
    assert dict(zip(plan.keys, values, strict=True)) == _expected(_EXTRAS, wire, '{"raw": 1}')


def test_a_key_outside_the_columns_is_added_and_lower_cased() -> None:
    columns = (ColumnSpec("subject", "string"),)
    spec = TableSpec("lead", "leads", "leadid", columns, {})
    plan = RowPlan(spec, columns)
    assert plan.keys == ("subject", "leadid", *META_KEYS)
    assert plan.row({"leadid": KEY, "subject": 5}, None, 1, NOW) == [
        "5",
        KEY.lower(),
        None,
        NOW,
        None,
        1,
    ]


def test_a_tenant_column_named_like_a_label_column_keeps_row_builders_value() -> None:
    columns = LEAD.with_extras(["statecode_label"])
    plan = RowPlan(LEAD, columns)
    wire = {
        LEAD.primary_key: KEY,
        "statecode": 1,
        "statecode@OData.Community.Display.V1.FormattedValue": "Qualified",
        "statecode_label": "mine",
    }
    values = plan.row(wire, None, 7, NOW)
    assert len(plan.keys) == len(set(plan.keys))
    assert dict(zip(plan.keys, values, strict=True)) == _expected(columns, wire, None)


def test_a_bad_value_names_its_column() -> None:
    plan = RowPlan(LEAD, LEAD.columns)
    with pytest.raises(SyncError, match=r"numberofemployees.*cannot read 'many' as int"):
        plan.row({LEAD.primary_key: KEY, "numberofemployees": "many"}, None, 1, NOW)


@pytest.mark.parametrize("key", [None, "", "absent"])
def test_a_row_without_its_key_is_refused(key: str | None) -> None:
    plan = RowPlan(LEAD, LEAD.columns)
    wire: dict[str, Any] = {"subject": "x"}
    if key != "absent":
        wire[LEAD.primary_key] = key
    with pytest.raises(SyncError, match="without its key 'leadid'"):
        plan.row(wire, None, 1, NOW)
