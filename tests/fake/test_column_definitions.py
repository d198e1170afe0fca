"""The fake's column definitions: ``GET EntityDefinitions(LogicalName='t')/Attributes``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _core_api import Api, error_of, make_api

from d365leads.fake import FakeOptions

OPTIONS = FakeOptions(
    custom_columns=(
        ("lead", "new_score", "int"),
        ("lead", "new_budget", "money"),
        ("lead", "new_since", "date"),
        ("lead", "new_regionid", "lookup:account"),
    )
)
SELECT = "LogicalName,AttributeType,IsValidForCreate,IsValidForUpdate"
LEAD = "EntityDefinitions(LogicalName='lead')/Attributes"


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request, OPTIONS.replace())


def test_lists_every_column_with_type_and_write_flags(api: Api) -> None:
    response = api.get(LEAD, params={"$select": SELECT})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith(
        "$metadata#EntityDefinitions('lead')/Attributes(" + SELECT + ")"
    )
    rows = {r["LogicalName"]: r for r in body["value"]}
    for row in body["value"]:
        assert set(row) == {"@odata.type", "MetadataId", *SELECT.split(",")}
    expected = {
        "leadid": ("Uniqueidentifier", True, False),
        "subject": ("String", True, True),
        "description": ("Memo", True, True),
        "numberofemployees": ("Integer", True, True),
        "revenue": ("Money", True, True),
        "donotemail": ("Boolean", True, True),
        "estimatedclosedate": ("DateTime", True, True),
        "leadsourcecode": ("Picklist", True, True),
        "statecode": ("State", False, True),
        "statuscode": ("Status", True, True),
        "parentaccountid": ("Lookup", True, True),
        "customerid": ("Customer", True, True),
        "ownerid": ("Owner", True, True),
        "fullname": ("String", False, False),
        "createdon": ("DateTime", False, False),
        "versionnumber": ("BigInt", False, False),
        "new_score": ("Integer", True, True),
        "new_budget": ("Money", True, True),
        "new_since": ("DateTime", True, True),
        "new_regionid": ("Lookup", True, True),
    }
    for name, (kind, create, update) in expected.items():
        row = rows[name]
        assert (row["AttributeType"], row["IsValidForCreate"], row["IsValidForUpdate"]) == (
            kind,
            create,
            update,
        ), name
    assert rows["new_score"]["@odata.type"] == "#Microsoft.Dynamics.CRM.IntegerAttributeMetadata"
    assert rows["customerid"]["@odata.type"] == "#Microsoft.Dynamics.CRM.LookupAttributeMetadata"


def test_tenant_columns_are_per_fake_and_one_attribute_has_every_property(api: Api) -> None:
    contact = api.get("EntityDefinitions(LogicalName='contact')/Attributes").json()["value"]
    assert "new_score" not in {r["LogicalName"] for r in contact}
    api.fake.add_column("contact", "new_tier", "int")
    contact = api.get("EntityDefinitions(LogicalName='contact')/Attributes").json()["value"]
    assert "new_tier" in {r["LogicalName"] for r in contact}
    one = api.get(LEAD + "(LogicalName='new_since')")
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["@odata.context"].endswith("/Attributes/$entity")
    assert body["IsCustomAttribute"] is True and body["Format"] == "DateOnly"
    assert body["AttributeTypeName"] == {"Value": "DateTimeType"}
    region = api.get(LEAD + "(LogicalName='new_regionid')").json()
    assert region["Targets"] == ["account"]
    subject = api.get(LEAD + "(LogicalName='subject')").json()
    assert subject["IsCustomAttribute"] is False and subject["MaxLength"] == 300


def test_errors(api: Api) -> None:
    missing = api.get("EntityDefinitions(LogicalName='prospect')/Attributes")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "0x80040217"
    assert "prospect" in error_of(missing)["message"]
    no_column = api.get(LEAD + "(LogicalName='new_nope')")
    assert no_column.status_code == 404 and "new_nope" in error_of(no_column)["message"]
    bad_select = api.get(LEAD, params={"$select": "LogicalName,Format"})
    assert bad_select.status_code == 400
    assert "Could not find a property named 'Format'" in error_of(bad_select)["message"]
    params = {"$filter": "IsCustomAttribute eq true", "$select": "LogicalName"}
    custom = api.get(LEAD, params=params)
    assert {r["LogicalName"] for r in custom.json()["value"]} == {
        "new_score",
        "new_budget",
        "new_since",
        "new_regionid",
    }
    assert api.get(LEAD, params={"$orderby": "LogicalName"}).status_code == 501
    assert api.post(LEAD, json={"LogicalName": "new_x"}).status_code == 405
