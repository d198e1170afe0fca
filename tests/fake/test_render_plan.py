"""The planned row rendering: byte for byte the column-by-column reading, and never stale.

``serialize_row`` renders through a plan made once per table, ``$select`` and annotation set
(``wire/render_plan.py``); ``serialize_row_unplanned`` is the straightforward reading kept as
the reference.  Lookup names are read from the store on every render, so a rename shows on the
next read of a row that did not change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from _core_api import Api, make_api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d365leads.fake.org.schema import Column, Table
from d365leads.fake.org.tables import TABLES
from d365leads.fake.wire.serialize import (
    annotation_filter,
    entity_plan,
    serialize_row,
    serialize_row_unplanned,
)

FV = "@OData.Community.Display.V1.FormattedValue"
ALL = {"Prefer": 'odata.include-annotations="*"'}
PREFERENCES = [
    None,
    "*",
    "OData.Community.Display.V1.FormattedValue",
    "Microsoft.Dynamics.CRM.*",
    "Microsoft.Dynamics.CRM.lookuplogicalname",
    "*,-Microsoft.Dynamics.CRM.associatednavigationproperty",
    "-*",
    "OData.*,Microsoft.Dynamics.CRM.associatednavigationproperty",
]
TABLE_NAMES = ["lead", "account", "contact", "opportunity", "systemuser"]


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


def test_renamed_account_shows_in_the_unchanged_leads_lookup_name(api: Api) -> None:
    account_id = api.create("accounts", {"name": "Old name"})
    lead_id = api.create(
        "leads", {"subject": "S", "parentaccountid@odata.bind": f"/accounts({account_id})"}
    )
    key = f"_parentaccountid_value{FV}"

    def read() -> tuple[str, str, str]:
        page = api.get("leads", headers=ALL).json()["value"][0]
        one = api.get(f"leads({lead_id})", headers=ALL).json()
        return page[key], one[key], page["@odata.etag"]

    first_page, first_one, etag_before = read()
    assert api.patch(f"accounts({account_id})", json={"name": "New name"}).status_code == 204
    page_name, one_name, etag_after = read()

    assert (first_page, first_one) == ("Old name", "Old name")
    assert (page_name, one_name) == ("New name", "New name")
    assert etag_after == etag_before  # the lead itself did not change


def test_lead_write_shows_its_new_values_and_etag_on_the_next_read(api: Api) -> None:
    lead_id = api.create("leads", {"subject": "S", "leadsourcecode": 1})
    before = api.get(f"leads({lead_id})", headers=ALL).json()
    assert api.patch(f"leads({lead_id})", json={"leadsourcecode": 8}).status_code == 204
    after = api.get(f"leads({lead_id})", headers=ALL).json()

    assert before[f"leadsourcecode{FV}"] != after[f"leadsourcecode{FV}"] == "Web"
    assert before["@odata.etag"] != after["@odata.etag"]


def _value(column: Column) -> st.SearchStrategy[Any]:
    kind = column.type
    choices: list[st.SearchStrategy[Any]] = [st.none()]
    if kind in ("string", "memo"):
        choices.append(st.text(max_size=8))
    elif kind in ("int", "bigint"):
        choices.append(st.integers(min_value=-(2**40), max_value=2**40))
    elif kind in ("decimal", "money"):
        choices.append(st.floats(allow_nan=False, allow_infinity=False, width=32))
        choices.append(st.integers(min_value=-(10**9), max_value=10**9))
    elif kind == "bool":
        choices.append(st.booleans())
    elif kind in ("picklist", "state", "status"):
        known = sorted(column.options) or [0]
        choices.append(st.sampled_from(known))
        choices.append(st.integers(min_value=0, max_value=10**9))
    elif kind == "datetime":
        choices.append(st.datetimes().map(lambda d: d.replace(microsecond=0).isoformat() + "Z"))
        choices.append(st.text(max_size=6))
    elif kind == "date":
        choices.append(st.dates().map(lambda d: d.isoformat()))
        choices.append(st.text(max_size=6))
    else:  # guid and lookups
        choices.append(st.uuids().map(str))
    return st.one_of(choices)


# Text with the characters JSON escapes (quotes, backslash, controls, NUL, non-ASCII).
_AWKWARD_TEXT = st.text(
    alphabet=st.sampled_from('a"\\\x00\x01\n\u00e9\u2028\U0001f600'), max_size=6
)
_NESTED = st.one_of(
    st.lists(st.one_of(st.integers(), _AWKWARD_TEXT), max_size=3),
    st.dictionaries(_AWKWARD_TEXT, st.one_of(st.none(), st.floats(allow_nan=False)), max_size=2),
)


@st.composite
def _case(draw: st.DrawFn) -> tuple[Table, dict[str, Any], list[str] | None, str | None]:
    table = TABLES[draw(st.sampled_from(TABLE_NAMES))]
    row: dict[str, Any] = {}
    for column in table.columns:
        if draw(st.booleans()) or column.name == table.primary_key:
            row[column.name] = draw(_value(column))
        if column.is_lookup and column.is_polymorphic:
            row[column.type_attribute] = draw(
                st.one_of(st.none(), st.sampled_from([*column.targets, "task"]))
            )
    row["versionnumber"] = draw(st.integers(min_value=1, max_value=10**12))
    names = [c.name for c in table.columns] + ["nosuchcolumn", "transactioncurrencyid"]
    select = draw(st.one_of(st.none(), st.lists(st.sampled_from(names), max_size=12)))
    return table, row, select, draw(st.sampled_from(PREFERENCES))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_case(), named=st.booleans())
def test_planned_rendering_matches_the_column_by_column_reading(
    case: tuple[Table, dict[str, Any], list[str] | None, str | None], named: bool
) -> None:
    table, row, select, preference = case
    names = {"account": "An account", "contact": None, "systemuser": "A user"}

    def resolve(target: str, record_id: str) -> str | None:
        return names.get(target, f"{target}:{record_id[:4]}")

    resolver = resolve if named else None
    wanted = annotation_filter(preference)
    reference = serialize_row_unplanned(
        table, row, select=select, annotations=wanted, resolve_name=resolver
    )
    # Twice: the second render reuses the plan the first one made.
    for _ in range(2):
        planned = serialize_row(
            table, row, select=select, annotations=wanted, resolve_name=resolver
        )
        assert json.dumps(planned) == json.dumps(reference)


@st.composite
def _awkward_case(draw: st.DrawFn) -> tuple[Table, dict[str, Any], list[str] | None, str | None]:
    table, row, select, preference = draw(_case())
    for column in table.columns:
        if column.type in ("string", "memo") and draw(st.booleans()):
            row[column.name] = draw(st.one_of(_AWKWARD_TEXT, _NESTED))
    return table, row, select, preference


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.one_of(_case(), _awkward_case()), named=st.booleans())
def test_text_rendering_is_json_dumps_of_the_planned_entity(
    case: tuple[Table, dict[str, Any], list[str] | None, str | None], named: bool
) -> None:
    table, row, select, preference = case

    def resolve(target: str, record_id: str) -> str | None:
        return None if target == "contact" else f'{target} "{record_id[:4]}"\x00\u00e9'

    resolver = resolve if named else None
    wanted = annotation_filter(preference)
    plan = entity_plan(table, select, wanted, names_lookups=named)
    reference = serialize_row_unplanned(
        table, row, select=select, annotations=wanted, resolve_name=resolver
    )
    assert plan.render_text(row, resolver) == json.dumps(reference)
