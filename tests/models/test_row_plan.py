"""The fast wire reading (RowPlan) gives the model the reference reading gives, or its error.

The reference reading is ``DataverseModel._from_wire_validated``: the row split into columns,
annotations and lookups, then one ``model_validate``.
"""

from __future__ import annotations

import typing
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from types import NoneType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d365leads import Account, Contact, Lead, Lookup, Opportunity
from d365leads.models import DataverseModel
from d365leads.models.row_plan import RowPlan

FV = "@OData.Community.Display.V1.FormattedValue"
LN = "@Microsoft.Dynamics.CRM.lookuplogicalname"
NAV = "@Microsoft.Dynamics.CRM.associatednavigationproperty"
MODELS: list[type[DataverseModel]] = [Lead, Account, Contact, Opportunity]
# One plan per model for the whole run, so rows drawn one after the other meet the shapes
# earlier rows left behind (as the pages of a query do).
PLANS = {model: RowPlan(model) for model in MODELS}

labels = st.one_of(st.text(max_size=12), st.none())
guids = st.uuids().map(str)
plain_json = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.one_of(
    plain_json,
    st.lists(plain_json, max_size=3),
    st.dictionaries(st.text(max_size=5), plain_json, max_size=3),
)
instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)


def _value_of(annotation: Any, *, odd: bool) -> st.SearchStrategy[Any]:
    """Wire values for a column of ``annotation`` (``odd``: also values it may refuse)."""
    kinds = [a for a in typing.get_args(annotation) or (annotation,) if a is not NoneType]
    options: list[st.SearchStrategy[Any]] = [st.none()]
    for kind in kinds:
        if isinstance(kind, type) and issubclass(kind, Enum):
            options.append(st.sampled_from([m.value for m in kind]))
            if odd or int in kinds:  # a tenant status reason, or a state that does not exist
                options.append(st.integers(min_value=0, max_value=100000010))
        elif kind is uuid.UUID:
            options.append(guids)
        elif kind is str:
            options.append(st.text(max_size=20))
        elif kind is int:
            options.append(st.integers(min_value=-(2**31), max_value=2**31))
        elif kind is Decimal:
            options.append(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
            options.append(st.integers(min_value=-(10**9), max_value=10**9))
        elif kind is datetime:
            options.append(instants.map(lambda d: d.isoformat().replace("+00:00", "Z")))
        elif kind is date:
            options.append(st.dates().map(date.isoformat))
    if odd:
        options.append(json_values)
        options.append(st.just(True))
        options.append(st.just("not a value"))
    return st.one_of(options)


@st.composite
def wire_rows(draw: st.DrawFn, model: type[DataverseModel], *, odd: bool) -> dict[str, Any]:
    """A row as the Web API could send for ``model``; ``odd`` adds what a server should not."""
    row: dict[str, Any] = {}
    if draw(st.booleans()):
        row["@odata.etag"] = draw(st.one_of(st.just('W/"12345"'), st.none()))
    if draw(st.booleans()):
        row["@odata.context"] = "https://org.example/api/data/v9.2/$metadata#leads"
    for name, info in model.model_fields.items():
        if name in model.lookups or not draw(st.booleans()):
            continue
        row[name] = draw(_value_of(info.annotation, odd=odd))
        if draw(st.booleans()):
            row[name + FV] = draw(labels if odd else st.text(max_size=12))
    for name, spec in model.lookups.items():
        if not draw(st.booleans()):
            continue
        key = f"_{name}_value"
        ids = st.one_of(guids, st.none(), st.just(""), st.just("42")) if odd else guids
        row[key] = draw(st.one_of(ids, st.none()))
        if draw(st.booleans()):
            row[key + FV] = draw(labels if odd else st.text(max_size=12))
        if draw(st.booleans()):
            tables = list(spec.targets) + (["", "queue"] if odd else [])
            row[key + LN] = draw(st.sampled_from(tables))
        if draw(st.booleans()):
            row[key + NAV] = spec.navigation
        if odd and draw(st.integers(0, 9)) == 0:
            row[name] = draw(st.one_of(guids, json_values))
    for i in range(draw(st.integers(0, 4))):
        column = f"new_col{i}"
        row[column] = draw(json_values if odd else plain_json)
        if draw(st.booleans()):
            row[column + FV] = draw(labels if odd else st.text(max_size=12))
    if draw(st.booleans()):
        row["_new_regionid_value"] = draw(st.one_of(guids, st.none()))
        row["_new_regionid_value" + LN] = draw(st.sampled_from(["new_region", ""]))
        row["_new_regionid_value" + FV] = draw(st.text(max_size=8))
    if odd and draw(st.booleans()):
        row["new_col0@Some.Other.annotation"] = draw(plain_json)
        row["@Microsoft.Dynamics.CRM.totalrecordcount"] = 3
    keys = draw(st.permutations(list(row)))
    return {key: row[key] for key in keys}


def _typed(value: Any) -> Any:
    """``value`` with its type, and a lookup by all three of its parts (its == ignores the name)."""
    if isinstance(value, Lookup):
        return ("Lookup", value.id, value.table, value.name, value.model_fields_set)
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, (list, set, frozenset)):
        return (type(value), sorted(map(repr, value)))
    return (type(value), value)


def state(model: DataverseModel) -> dict[str, Any]:
    """Everything a model holds, so that two models compare equal only when they are alike."""
    return {
        "type": type(model),
        "fields": _typed(model.__dict__),
        "order": list(model.__dict__),
        "fields_set": sorted(model.model_fields_set),
        "extra": _typed(model.__pydantic_extra__),
        "private": _typed(model.__pydantic_private__),
    }


def outcome(read: typing.Callable[[], DataverseModel | None]) -> Any:
    try:
        model = read()
    except Exception as exc:  # the error itself is what is compared
        return ("error", type(exc), str(exc))
    return None if model is None else state(model)


def check(model: type[DataverseModel], row: dict[str, Any]) -> tuple[Any, Any]:
    """The reference outcome, and the plan's (both its paths), which must agree."""
    reference = outcome(lambda: model._from_wire_validated(row))
    plan = PLANS[model]
    fast = outcome(lambda: plan.read(row))
    any_path = outcome(lambda: plan._read_any(row))
    public = outcome(lambda: model.from_wire(row))
    assert public == reference
    if fast is not None:
        assert fast == reference
    if any_path is not None:
        assert any_path == reference
    return reference, fast


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), model=st.sampled_from(MODELS))
def test_plan_reads_regular_rows_like_model_validate(
    data: st.DataObject, model: type[DataverseModel]
) -> None:
    row = data.draw(wire_rows(model, odd=False))
    reference, fast = check(model, row)
    # A row the Web API would send is read by the plan itself, not handed back.
    assert fast is not None
    assert reference == fast


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), model=st.sampled_from(MODELS))
def test_plan_agrees_with_model_validate_on_odd_rows(
    data: st.DataObject, model: type[DataverseModel]
) -> None:
    check(model, data.draw(wire_rows(model, odd=True)))


def test_rows_of_one_shape_are_read_through_the_learnt_shape() -> None:
    base = {
        "@odata.etag": 'W/"1"',
        "leadid": str(uuid.uuid4()),
        "subject": "First",
        "statuscode": 2,
        "statuscode" + FV: "Contacted",
        "_ownerid_value": str(uuid.uuid4()),
        "_ownerid_value" + LN: "team",
        "_ownerid_value" + FV: "Sales team",
        "new_score": 7,
    }
    plan = RowPlan(Lead)
    for i in range(3):
        row = {**base, "subject": f"Row {i}", "new_score": i}
        assert state(plan.read(row) or Lead()) == state(Lead._from_wire_validated(row))
    assert len(plan._shapes) == 1
    # Same keys, then one more and one fewer: each is read exactly.
    for row in ({**base, "new_other": {"x": 1}}, {k: v for k, v in base.items() if k != "subject"}):
        assert state(plan.read(row) or Lead()) == state(Lead._from_wire_validated(row))


def test_values_the_shape_cannot_take_go_key_by_key() -> None:
    plan = RowPlan(Lead)
    row: dict[str, Any] = {"leadid": str(uuid.uuid4()), "new_json": 1, "subject" + FV: "x"}
    assert plan.read(row) is not None
    for odd in ({"new_json": {"nested": True}}, {"subject" + FV: None}, {"new_json": [1, 2]}):
        changed = {**row, **odd}
        assert state(plan.read(changed) or Lead()) == state(Lead._from_wire_validated(changed))


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"_parentaccountid_value": "not-a-guid"}, "GUID"),
        (
            {"_parentaccountid_value": str(uuid.uuid4()), "_parentaccountid_value" + LN: "contact"},
            "can only point to account",
        ),
        ({"statecode": 9}, "statecode"),
        ({"createdon": "yesterday"}, "createdon"),
    ],
)
def test_bad_rows_raise_the_reference_error(row: dict[str, Any], error: str) -> None:
    plan = RowPlan(Lead)
    assert plan.read(row) is None
    with pytest.raises(Exception, match=error) as fast:
        Lead.from_wire(row)
    with pytest.raises(Exception, match=error) as reference:
        Lead._from_wire_validated(row)
    assert type(fast.value) is type(reference.value)
    assert str(fast.value) == str(reference.value)


def test_a_subclass_the_plan_cannot_mirror_takes_the_reference_path() -> None:
    from pydantic import field_validator

    class ShoutingLead(Lead):
        @field_validator("subject")
        @classmethod
        def _upper(cls, value: str | None) -> str | None:
            return value.upper() if value else value

    assert RowPlan.for_class(ShoutingLead, DataverseModel) is None
    lead = ShoutingLead.from_wire({"subject": "quiet", "modifiedon": "2024-01-01T00:00:00Z"})
    assert lead.subject == "QUIET"
    assert lead.modifiedon == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert lead.changes() == {}

    class TenantLead(Lead):
        new_score: int | None = None

    assert RowPlan.for_class(TenantLead, DataverseModel) is not None
    tenant = TenantLead.from_wire({"new_score": "41", "new_tag": "x"})
    assert tenant.new_score == 41
    assert tenant.extra == {"new_tag": "x"}
    assert tenant.model_fields_set == {"new_score", "new_tag"}


def test_models_read_by_the_plan_behave_like_parsed_ones() -> None:
    owner = str(uuid.uuid4())
    row = {
        "@odata.etag": 'W/"9"',
        "leadid": str(uuid.uuid4()),
        "subject": "Topic",
        "statecode": 0,
        "statuscode": 1,
        "createdon": "2024-03-01T10:15:00Z",
        "_ownerid_value": owner,
        "_ownerid_value" + LN: "systemuser",
        "_ownerid_value" + FV: "Sam",
        "_createdby_value": owner,
        "_createdby_value" + LN: "systemuser",
        "_createdby_value" + FV: "Sam",
        "new_score": 3,
    }
    first, second = Lead.from_wire(row), Lead.from_wire(row)
    assert first.createdon is not None
    assert first.createdon + timedelta(0) == datetime(2024, 3, 1, 10, 15, tzinfo=timezone.utc)
    # Shared lookup instances are frozen: changing one model's lookup never touches another's.
    first.ownerid = Lookup.to("team", uuid.uuid4())
    assert second.ownerid == Lookup(id=uuid.UUID(owner), table="systemuser", name="Sam")
    assert first.changes() == {"ownerid@odata.bind": f"/teams({first.ownerid.id})"}
    assert second.changes() == {}
    first.new_score = 4
    assert first.changes()["new_score"] == 4
    assert second.extra == {"new_score": 3}
    assert first.formatted("ownerid") == "Sam" and first.etag == 'W/"9"'


def test_rows_of_shapes_in_turn_are_each_read_exactly() -> None:
    # Pages mix shapes (a set lookup brings its annotations, a null one has none); rows of the
    # same size but other keys must not be read through the wrong shape.
    plan = RowPlan(Lead)
    owner = str(uuid.uuid4())
    with_owner = {
        "leadid": str(uuid.uuid4()),
        "subject": "a",
        "_ownerid_value": owner,
        "_ownerid_value" + LN: "team",
        "_ownerid_value" + FV: "Sales",
    }
    no_owner = {"leadid": str(uuid.uuid4()), "subject": "b", "_ownerid_value": None}
    same_size = {"leadid": str(uuid.uuid4()), "lastname": "c", "new_x": 1}
    same_size_other = {"leadid": str(uuid.uuid4()), "new_y": "d", "_new_z_value" + LN: "x"}
    rows = [with_owner, no_owner, same_size, same_size_other] * 3
    for row in rows:
        read = plan.read(row)
        assert read is not None
        assert state(read) == state(Lead._from_wire_validated(row))
    assert len(plan._shapes) == 4


def test_a_row_missing_a_tenant_lookup_table_of_the_last_shape_is_read() -> None:
    # Same size as the shape before it, one tenant column in place of the table name of a
    # lookup the model does not declare: main raised KeyError from from_wire here.
    table_key = "_new_zoneid_value" + LN
    first = {"leadid": str(uuid.uuid4()), "new_y": 1, table_key: "new_zone"}
    second = {"leadid": str(uuid.uuid4()), "new_y": 1, "new_q": 2}
    for row in (first, second, first):
        assert state(Lead.from_wire(row)) == state(Lead._from_wire_validated(row))
