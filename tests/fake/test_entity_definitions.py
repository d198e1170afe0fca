"""The metadata surface real clients call: ``EntityDefinitions``, typed attribute casts, keys
and relationships.  Plain ``requests`` through both adapters."""

from __future__ import annotations

import pytest
from _both_adapters import Target, target_for

from d365leads.fake import FakeOptions

LEAD = "EntityDefinitions(LogicalName='lead')"


@pytest.fixture
def fake_dataverse_options() -> FakeOptions:
    return FakeOptions(
        custom_columns=(("lead", "new_score", "int"), ("lead", "new_regionid", "lookup:account")),
        alternate_keys=(("lead", ("emailaddress1",)),),
    )


@pytest.fixture(params=["fake_dataverse", "fake_dataverse_server"])
def target(request: pytest.FixtureRequest) -> Target:
    return target_for(request)


def test_collection_filtered_by_logical_name_with_select(target: Target) -> None:
    select = "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,ObjectTypeCode"
    response = target.get(
        "EntityDefinitions", params={"$select": select, "$filter": "LogicalName eq 'lead'"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith(f"$metadata#EntityDefinitions({select})")
    [row] = body["value"]
    assert row == {
        "MetadataId": row["MetadataId"],
        "LogicalName": "lead",
        "EntitySetName": "leads",
        "PrimaryIdAttribute": "leadid",
        "PrimaryNameAttribute": "fullname",
        "ObjectTypeCode": 4,
    }


def test_filter_on_entity_set_name_and_is_private(target: Target) -> None:
    by_set = target.get("EntityDefinitions", params={"$filter": "EntitySetName eq 'accounts'"})
    assert [r["LogicalName"] for r in by_set.json()["value"]] == ["account"]
    public = target.get(
        "EntityDefinitions", params={"$select": "LogicalName", "$filter": "IsPrivate eq false"}
    )
    names = {r["LogicalName"] for r in public.json()["value"]}
    assert names == set(target.fake.schema.tables)
    both = target.get(
        "EntityDefinitions",
        params={
            "$filter": "(LogicalName eq 'lead' or LogicalName eq 'contact') and IsActivity eq false"
        },
    )
    assert sorted(r["LogicalName"] for r in both.json()["value"]) == ["contact", "lead"]


def test_by_logical_name_and_by_metadata_id_agree(target: Target) -> None:
    full = target.get(LEAD)
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["@odata.context"].endswith("$metadata#EntityDefinitions/$entity")
    for name, value in {
        "SchemaName": "Lead",
        "PrimaryImageAttribute": None,
        "IsActivity": False,
        "IsPrivate": False,
        "ChangeTrackingEnabled": True,
        "OwnershipType": "UserOwned",
    }.items():
        assert body[name] == value, name
    assert body["DisplayName"]["UserLocalizedLabel"]["Label"] == "Lead"
    assert body["DisplayCollectionName"]["LocalizedLabels"][0] == {
        "Label": "Leads",
        "LanguageCode": 1033,
        "IsManaged": True,
        "MetadataId": body["DisplayCollectionName"]["LocalizedLabels"][0]["MetadataId"],
        "HasChanged": None,
    }
    by_id = target.get(f"EntityDefinitions({body['MetadataId']})").json()
    assert by_id == body
    again = target.get(LEAD).json()
    assert again["MetadataId"] == body["MetadataId"]


def test_change_tracking_follows_the_options(target: Target) -> None:
    response = target.get(
        "EntityDefinitions(LogicalName='campaign')", params={"$select": "ChangeTrackingEnabled"}
    )
    assert response.json()["ChangeTrackingEnabled"] is False


def test_unknown_table_property_and_path(target: Target) -> None:
    missing = target.get("EntityDefinitions(LogicalName='nosuch')")
    assert missing.status_code == 404
    bad = target.get(LEAD, params={"$select": "NoSuchProperty"})
    assert bad.status_code == 400
    assert "NoSuchProperty" in bad.json()["error"]["message"]
    unknown = target.get(LEAD + "/Privileges")
    assert unknown.status_code == 501
    assert "Privileges" in unknown.json()["error"]["message"]


def test_picklist_cast_with_option_set(target: Target) -> None:
    response = target.get(
        LEAD + "/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        params={"$select": "LogicalName", "$expand": "OptionSet($select=Options)"},
    )
    assert response.status_code == 200, response.text
    rows = {r["LogicalName"]: r for r in response.json()["value"]}
    # Every choice column of the lead, built-in and from the documented examples, and no other.
    picklists = {c.name for c in target.fake.schema.table("lead").columns if c.type == "picklist"}
    assert set(rows) == picklists and "leadsourcecode" in picklists
    options = rows["leadsourcecode"]["OptionSet"]["Options"]
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in options}
    column = target.fake.schema.table("lead").column("leadsourcecode")
    assert labels == dict(column.options)


def test_status_state_boolean_casts_by_metadata_id(target: Target) -> None:
    listing = target.get(LEAD + "/Attributes", params={"$select": "LogicalName"}).json()["value"]
    ids = {r["LogicalName"]: r["MetadataId"] for r in listing}
    status = target.get(
        f"{LEAD}/Attributes({ids['statuscode']})/Microsoft.Dynamics.CRM.StatusAttributeMetadata",
        params={"$expand": "OptionSet"},
    ).json()
    assert status["MetadataId"] == ids["statuscode"]
    assert {o["Value"] for o in status["OptionSet"]["Options"]} >= {1, 2, 3, 4, 5, 6, 7}
    boolean = target.get(
        f"{LEAD}/Attributes(LogicalName='donotemail')/Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
        params={"$select": "LogicalName,DefaultValue", "$expand": "OptionSet"},
    ).json()
    assert boolean["OptionSet"]["TrueOption"]["Label"]["UserLocalizedLabel"]["Label"] == (
        "Do Not Allow"
    )
    assert boolean["OptionSet"]["FalseOption"]["Value"] == 0
    wrong = target.get(
        f"{LEAD}/Attributes(LogicalName='subject')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    )
    assert wrong.status_code == 404


def test_lookup_cast_lists_targets_tenant_columns_included(target: Target) -> None:
    response = target.get(
        LEAD + "/Attributes/Microsoft.Dynamics.CRM.LookupAttributeMetadata",
        params={"$select": "LogicalName,Targets"},
    )
    targets = {r["LogicalName"]: r["Targets"] for r in response.json()["value"]}
    assert targets["customerid"] == ["account", "contact"]
    assert targets["new_regionid"] == ["account"]
    ints = target.get(LEAD + "/Attributes/Microsoft.Dynamics.CRM.IntegerAttributeMetadata")
    assert "new_score" in {r["LogicalName"] for r in ints.json()["value"]}


def test_keys_include_tenant_keys(target: Target) -> None:
    response = target.get(LEAD + "/Keys", params={"$select": "SchemaName,KeyAttributes"})
    assert response.status_code == 200, response.text
    keys = response.json()["value"]
    assert [k["KeyAttributes"] for k in keys] == [["emailaddress1"]]
    none = target.get("EntityDefinitions(LogicalName='campaign')/Keys").json()["value"]
    assert none == []


def test_relationships_from_both_ends(target: Target) -> None:
    many_to_one = target.get(LEAD + "/ManyToOneRelationships").json()["value"]
    parent = next(r for r in many_to_one if r["ReferencingAttribute"] == "parentaccountid")
    assert parent["ReferencedEntity"] == "account"
    assert parent["ReferencingEntityNavigationPropertyName"] == "parentaccountid"
    assert parent["ReferencedEntityNavigationPropertyName"] == "lead_parent_account"
    one_to_many = target.get(
        "EntityDefinitions(LogicalName='account')/OneToManyRelationships",
        params={"$filter": "ReferencingEntity eq 'lead'"},
    ).json()["value"]
    assert parent["SchemaName"] in {r["SchemaName"] for r in one_to_many}
    assert all(r["ReferencingEntity"] == "lead" for r in one_to_many)


def test_expand_attributes_and_keys_on_an_entity(target: Target) -> None:
    response = target.get(
        LEAD,
        params={"$select": "LogicalName", "$expand": "Attributes($select=LogicalName),Keys"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"leadid", "new_score"} <= {a["LogicalName"] for a in body["Attributes"]}
    assert body["Keys"][0]["KeyAttributes"] == ["emailaddress1"]


def test_metadata_is_read_only(target: Target) -> None:
    response = target.session.post(target.base_url + "EntityDefinitions", json={}, timeout=5)
    assert response.status_code == 405


def test_attributes_filtered_by_type_enum_and_flags(target: Target) -> None:
    response = target.get(
        LEAD + "/Attributes",
        params={
            "$select": "LogicalName",
            "$filter": "AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Integer' "
            "and IsCustomAttribute eq true",
        },
    )
    assert response.status_code == 200, response.text
    assert [r["LogicalName"] for r in response.json()["value"]] == ["new_score"]
    unsupported = target.get(LEAD + "/Attributes", params={"$filter": "contains(LogicalName,'x')"})
    assert unsupported.status_code == 501
