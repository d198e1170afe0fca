"""Unit tests of the fake's state/status rules and the status metadata endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from d365leads.fake import Store
from d365leads.fake.core.fault import FakeFault
from d365leads.fake.core.options import FakeOptions
from d365leads.fake.handlers.status_metadata import handle_metadata
from d365leads.fake.org.inactive import is_inactive
from d365leads.fake.org.states import (
    add_status_reason,
    check_pair,
    default_status,
    status_model,
    validate_create,
)
from d365leads.fake.org.transitions import validate_update
from d365leads.fake.wire.messages import FakeRequest

LEAD_ID = "6f1c2c1e-0000-0000-0000-000000000001"
BASE = "https://fake-org.crm.dynamics.com/api/data/v9.2/"


def lead(state: int, status: int, **extra: Any) -> dict[str, Any]:
    return {"leadid": LEAD_ID, "statecode": state, "statuscode": status, "subject": "Deal", **extra}


def raises(call: Any, *args: Any, **kwargs: Any) -> FakeFault:
    with pytest.raises(FakeFault) as info:
        call(*args, **kwargs)
    return info.value


# --- valid pairs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "pairs"),
    [
        ("lead", [(0, 1), (0, 2), (1, 3), (2, 4), (2, 5), (2, 6), (2, 7)]),
        ("opportunity", [(0, 1), (0, 2), (1, 3), (2, 4), (2, 5)]),
        ("account", [(0, 1), (1, 2)]),
        ("contact", [(0, 1), (1, 2)]),
    ],
)
def test_valid_pairs_of_each_table(table: str, pairs: list[tuple[int, int]]) -> None:
    options = FakeOptions()
    model = status_model(table)
    all_pairs = {(s.state, s.value) for s in model.statuses}
    assert all_pairs == set(pairs)
    for state, status in pairs:
        check_pair(table, state, status, options)
    for state in {s for s, _ in pairs}:
        for _, status in pairs:
            if (state, status) not in pairs:
                assert raises(check_pair, table, state, status, options).status == 400


def test_invalid_pair_message_and_code() -> None:
    error = raises(check_pair, "lead", 2, 3, FakeOptions(), LEAD_ID)
    assert (error.status, error.code) == (400, "0x80048408")
    assert error.message == (
        f"3 is not a valid status code for state code LeadState.Disqualified on lead with Id "
        f"{LEAD_ID}"
    )
    unknown = raises(check_pair, "lead", 2, 42, FakeOptions(), LEAD_ID)
    assert unknown.message == "42 is not a valid status code on lead"
    custom = raises(check_pair, "lead", 2, 3, FakeOptions(invalid_state_code="0x80040203"))
    assert custom.code == "0x80040203"


def test_default_status() -> None:
    assert [default_status("lead", s) for s in (0, 1, 2)] == [1, 3, 4]
    assert [default_status("opportunity", s) for s in (0, 1, 2)] == [1, 3, 4]
    assert default_status("account", 1) == 2


# --- create -------------------------------------------------------------------------------


def test_create_defaults_to_open_new() -> None:
    row: dict[str, Any] = {"subject": "x"}
    validate_create("lead", row, FakeOptions())
    assert (row["statecode"], row["statuscode"]) == (0, 1)
    account: dict[str, Any] = {"name": "Contoso"}
    validate_create("account", account, FakeOptions())
    assert (account["statecode"], account["statuscode"]) == (0, 1)


def test_create_accepts_an_open_status_reason() -> None:
    row: dict[str, Any] = {"statuscode": 2}
    validate_create("lead", row, FakeOptions())
    assert (row["statecode"], row["statuscode"]) == (0, 2)


def test_create_rejects_closed_state_by_default() -> None:
    error = raises(validate_create, "lead", {"statuscode": 6}, FakeOptions())
    assert error.code == "0x80048408"
    assert "6 is not a valid status code for state code LeadState.Open" in error.message
    error = raises(validate_create, "lead", {"statecode": 2}, FakeOptions())
    assert "LeadState.Open" in error.message
    assert (
        "not a valid status code on lead"
        in raises(validate_create, "lead", {"statuscode": 99}, FakeOptions()).message
    )


def test_create_ignore_mode_drops_closed_values() -> None:
    row: dict[str, Any] = {"statecode": 2, "statuscode": 6}
    validate_create("lead", row, FakeOptions(create_state="ignore"))
    assert (row["statecode"], row["statuscode"]) == (0, 1)


def test_create_honour_mode_accepts_valid_pairs() -> None:
    options = FakeOptions(create_state="honour")
    row: dict[str, Any] = {"statecode": 2, "statuscode": 6}
    validate_create("lead", row, options)
    assert (row["statecode"], row["statuscode"]) == (2, 6)
    only_status: dict[str, Any] = {"statuscode": 5}
    validate_create("lead", only_status, options)
    assert only_status["statecode"] == 2
    assert raises(validate_create, "lead", {"statecode": 1, "statuscode": 6}, options)


def test_create_opportunity_needs_customer() -> None:
    error = raises(validate_create, "opportunity", {"name": "x"}, FakeOptions())
    assert error.status == 400 and "customer" in error.message
    row = {"name": "x"}
    validate_create("opportunity", row, FakeOptions(require_opportunity_customer=False))
    assert row["statecode"] == 0


def test_create_rejects_non_integer_state() -> None:
    assert raises(validate_create, "lead", {"statuscode": "1"}, FakeOptions()).status == 400
    assert raises(validate_create, "lead", {"statuscode": True}, FakeOptions()).status == 400


# --- update: state/status -----------------------------------------------------------------


def test_update_pair_together() -> None:
    changes: dict[str, Any] = {"statecode": 2, "statuscode": 6}
    validate_update("lead", lead(0, 1), changes, FakeOptions())
    assert changes == {"statecode": 2, "statuscode": 6}
    error = raises(
        validate_update, "lead", lead(0, 1), {"statecode": 2, "statuscode": 3}, FakeOptions()
    )
    assert error.message.startswith(
        "3 is not a valid status code for state code LeadState.Disqualified"
    )


def test_update_status_alone_must_belong_to_current_state() -> None:
    changes: dict[str, Any] = {"statuscode": 2}
    validate_update("lead", lead(0, 1), changes, FakeOptions())
    assert changes == {"statuscode": 2}
    error = raises(validate_update, "lead", lead(0, 1), {"statuscode": 6}, FakeOptions())
    assert "6 is not a valid status code for state code LeadState.Open" in error.message


def test_update_state_alone_applies_default_status() -> None:
    changes: dict[str, Any] = {"statecode": 2}
    validate_update("lead", lead(0, 1), changes, FakeOptions())
    assert changes == {"statecode": 2, "statuscode": 4}
    strict = FakeOptions(statecode_only_sets_default_status=False)
    error = raises(validate_update, "lead", lead(0, 1), {"statecode": 2}, strict)
    assert "1 is not a valid status code for state code LeadState.Disqualified" in error.message


def test_update_unknown_state_and_null() -> None:
    assert (
        raises(validate_update, "lead", lead(0, 1), {"statecode": 9}, FakeOptions()).status == 400
    )
    error = raises(validate_update, "lead", lead(0, 1), {"statecode": None}, FakeOptions())
    assert "cannot be set to NULL" in error.message


def test_opportunity_cannot_be_closed_by_patch() -> None:
    opp = {"opportunityid": LEAD_ID, "statecode": 0, "statuscode": 1, "customerid": LEAD_ID}
    error = raises(
        validate_update, "opportunity", opp, {"statecode": 1, "statuscode": 3}, FakeOptions()
    )
    assert "WinOpportunity" in error.message
    error = raises(validate_update, "opportunity", opp, {"statecode": 2}, FakeOptions())
    assert "LoseOpportunity" in error.message
    lenient = FakeOptions(opportunity_close_requires_action=False)
    validate_update("opportunity", opp, {"statecode": 1, "statuscode": 3}, lenient)


def test_opportunity_customer_cannot_be_cleared() -> None:
    opp = {"opportunityid": LEAD_ID, "statecode": 0, "statuscode": 1, "customerid": LEAD_ID}
    error = raises(validate_update, "opportunity", opp, {"customerid": None}, FakeOptions())
    assert "customer" in error.message


# --- update: inactive records -------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "row"),
    [
        ("lead", lead(2, 6)),
        ("lead", lead(1, 3)),
        ("account", {"accountid": LEAD_ID, "statecode": 1, "statuscode": 2, "name": "A"}),
        ("contact", {"contactid": LEAD_ID, "statecode": 1, "statuscode": 2, "lastname": "L"}),
        ("opportunity", {"opportunityid": LEAD_ID, "statecode": 1, "statuscode": 3, "name": "O"}),
    ],
)
def test_inactive_records_refuse_edits(table: str, row: dict[str, Any]) -> None:
    assert is_inactive(table, row)
    error = raises(validate_update, table, row, {"description": "edited"}, FakeOptions())
    assert (error.status, error.code) == (400, "0x80040203")
    assert "inactive" in error.message and "description" in error.message
    assert LEAD_ID in error.message
    validate_update(
        table, row, {"description": "edited"}, FakeOptions(enforce_inactive_edit_rule=False)
    )


def test_inactive_rule_allows_state_only_patch_and_unchanged_values() -> None:
    closed = lead(2, 6, ownerid="11111111-0000-0000-0000-000000000000")
    reactivate: dict[str, Any] = {"statecode": 0, "statuscode": 1}
    validate_update("lead", closed, reactivate, FakeOptions())
    assert "ownerid" not in reactivate
    validate_update("lead", closed, {"statecode": 2, "statuscode": 7}, FakeOptions())
    validate_update("lead", closed, {"subject": "Deal"}, FakeOptions())  # same value: no edit
    error = raises(
        validate_update,
        "lead",
        closed,
        {"statecode": 0, "statuscode": 1, "subject": "New"},
        FakeOptions(),
    )
    assert "subject" in error.message


def test_inactive_rule_status_and_code_are_switchable() -> None:
    options = FakeOptions(inactive_edit_status=403, inactive_edit_code="0x80040220")
    error = raises(validate_update, "lead", lead(2, 6), {"subject": "x"}, options)
    assert (error.status, error.code) == (403, "0x80040220")


def test_open_record_edits_are_fine() -> None:
    validate_update("lead", lead(0, 2), {"subject": "x", "description": "y"}, FakeOptions())


def test_disqualify_with_open_opportunity_switch() -> None:
    store = Store()
    store.insert(
        "opportunity",
        {"name": "O", "originatingleadid": LEAD_ID, "statecode": 0, "statuscode": 1},
    )
    options = FakeOptions(disqualify_requires_no_open_opportunity=True)
    error = raises(
        validate_update, "lead", lead(0, 1), {"statecode": 2, "statuscode": 4}, options, store=store
    )
    assert "no open opportunity" in error.message
    validate_update(
        "lead", lead(0, 1), {"statecode": 2, "statuscode": 4}, FakeOptions(), store=store
    )


# --- tenant-defined status reasons --------------------------------------------------------


def test_custom_status_reason_is_valid_and_per_options() -> None:
    options = FakeOptions()
    add_status_reason(options, "lead", 100000000, "Duplicate", 2)
    validate_update("lead", lead(0, 1), {"statecode": 2, "statuscode": 100000000}, options)
    assert status_model("lead", options).column("statuscode").options[100000000] == "Duplicate"  # type: ignore[union-attr]
    other = FakeOptions()
    error = raises(
        validate_update, "lead", lead(0, 1), {"statecode": 2, "statuscode": 100000000}, other
    )
    assert "not a valid status code on lead" in error.message
    wrong_state = raises(
        validate_update, "lead", lead(0, 1), {"statecode": 1, "statuscode": 100000000}, options
    )
    assert "LeadState.Qualified" in wrong_state.message


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("lead", 6, "Again", 2), "already exists"),
        (("lead", 100000001, "X", 9), "has no state 9"),
        (("lead", 100000001, " ", 2), "non-empty label"),
        (("systemuser", 100000001, "X", 0), "no statecode/statuscode"),
    ],
)
def test_add_status_reason_validates(args: tuple[Any, ...], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        add_status_reason(FakeOptions(), *args)


# --- metadata endpoint --------------------------------------------------------------------


def metadata(path: str, options: FakeOptions) -> Any:
    response = handle_metadata(FakeRequest("GET", BASE + path), options)
    assert response.status == 200
    return response.json()


def test_status_metadata_lists_options_with_state_and_label() -> None:
    options = FakeOptions()
    add_status_reason(options, "lead", 100000000, "Duplicate", 2)
    body = metadata(
        "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='statuscode')/"
        "Microsoft.Dynamics.CRM.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet",
        options,
    )
    assert body["@odata.context"].startswith(BASE + "$metadata#EntityDefinitions('lead')")
    assert body["LogicalName"] == "statuscode"
    found = {
        o["Value"]: (o["State"], o["Label"]["UserLocalizedLabel"]["Label"])
        for o in body["OptionSet"]["Options"]
    }
    assert found[6] == (2, "No Longer Interested")
    assert found[3] == (1, "Qualified")
    assert found[100000000] == (2, "Duplicate")
    assert len(found) == 8
    assert "SchemaName" not in body  # trimmed by $select


def test_state_metadata_and_collection_form() -> None:
    body = metadata(
        "EntityDefinitions(LogicalName='opportunity')/Attributes/"
        "Microsoft.Dynamics.CRM.StateAttributeMetadata?$expand=OptionSet",
        FakeOptions(),
    )
    (attribute,) = body["value"]
    states = {o["Value"]: o["DefaultStatus"] for o in attribute["OptionSet"]["Options"]}
    assert states == {0: 1, 1: 3, 2: 4}


def test_metadata_without_expand_has_no_option_set() -> None:
    body = metadata(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='statuscode')/"
        "Microsoft.Dynamics.CRM.StatusAttributeMetadata",
        FakeOptions(),
    )
    assert "OptionSet" not in body


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (
            "EntityDefinitions(LogicalName='nosuch')/Attributes/Microsoft.Dynamics.CRM.StatusAttributeMetadata",
            404,
        ),
        (
            "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='subject')/"
            "Microsoft.Dynamics.CRM.StatusAttributeMetadata",
            404,
        ),
        ("EntityDefinitions(LogicalName='lead')/Attributes", 501),
        (
            "EntityDefinitions(LogicalName='lead')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            501,
        ),
        (
            "EntityDefinitions(LogicalName='lead')/Attributes/"
            "Microsoft.Dynamics.CRM.StatusAttributeMetadata?$expand=GlobalOptionSet2",
            400,
        ),
    ],
)
def test_metadata_errors(path: str, status: int) -> None:
    error = raises(handle_metadata, FakeRequest("GET", BASE + path), FakeOptions())
    assert error.status == status


def test_update_state_alone_same_state_keeps_current_status() -> None:
    changes: dict[str, Any] = {"statecode": 2}
    validate_update("lead", lead(2, 6), changes, FakeOptions())
    assert changes == {"statecode": 2}
