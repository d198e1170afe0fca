"""Create/retrieve/update/upsert/delete of the fake, over both transports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _core_api import Api, error_of, make_api

ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


def test_create_returns_204_with_entity_id_and_fills_system_columns(api: Api) -> None:
    response = api.post("leads", json={"subject": "Website inquiry", "lastname": "Lee"})

    assert response.status_code == 204
    assert response.content == b""
    entity = response.headers["OData-EntityId"]
    assert entity.startswith(api.base + "leads(")
    lead_id = entity[entity.index("(") + 1 : -1]
    row = api.fake.get("lead", lead_id)
    assert row is not None
    assert row["subject"] == "Website inquiry"
    assert row["fullname"] == "Lee"
    assert (row["statecode"], row["statuscode"]) == (0, 1)
    assert row["ownerid"] == api.fake.caller_id
    assert row["createdby"] == api.fake.caller_id
    assert row["createdon"].endswith("Z")
    assert row["versionnumber"] == api.fake.store.version


def test_create_with_representation_returns_201_and_the_selected_columns(api: Api) -> None:
    response = api.post(
        "leads?$select=subject,statuscode",
        json={"subject": "Trade show", "firstname": "Ana", "lastname": "Lee"},
        headers={"Prefer": "return=representation"},
    )

    assert response.status_code == 201
    assert "return=representation" in response.headers["Preference-Applied"]
    body = response.json()
    # The create page shows "$metadata#accounts/$entity" for a representation asked with $select.
    assert body["@odata.context"] == api.base + "$metadata#leads/$entity"
    assert body["subject"] == "Trade show"
    assert body["statuscode"] == 1
    assert set(body) == {"@odata.context", "@odata.etag", "subject", "statuscode", "leadid"}
    row = api.fake.get("lead", body["leadid"])
    assert row is not None
    assert body["@odata.etag"] == f'W/"{row["versionnumber"]}"'


def test_unknown_column_wrong_type_and_too_long_are_400(api: Api) -> None:
    unknown = api.post("leads", json={"subject": "x", "nope": 1})
    assert unknown.status_code == 400
    assert error_of(unknown)["message"] == (
        "Could not find a property named 'nope' on type 'Microsoft.Dynamics.CRM.lead'."
    )

    wrong_type = api.post("leads", json={"numberofemployees": "ten"})
    assert wrong_type.status_code == 400
    assert "Edm.Int32" in error_of(wrong_type)["message"]

    too_long = api.post("leads", json={"subject": "x" * 301})
    assert too_long.status_code == 400
    assert error_of(too_long)["code"] == "0x80044331"
    assert "maximum allowed length of '300'" in error_of(too_long)["message"]

    not_json = api.post("leads", data=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert api.fake.rows("lead") == []


def test_lookup_binds_read_back_as_value_with_annotations(api: Api) -> None:
    account_id = api.create("accounts", {"name": "Contoso"})
    contact_id = api.create(
        "contacts",
        {
            "firstname": "Ana",
            "lastname": "Lee",
            "parentcustomerid_account@odata.bind": f"/accounts({account_id})",
        },
    )
    lead_id = api.create(
        "leads",
        {
            "subject": "Upsell",
            "parentaccountid@odata.bind": f"accounts({account_id})",
            "customerid_contact@odata.bind": f"{api.base}contacts({contact_id})",
        },
    )

    contact = api.fake.get("contact", contact_id)
    assert contact is not None
    assert (contact["parentcustomerid"], contact["parentcustomeridtype"]) == (account_id, "account")
    body = api.get(
        f"leads({lead_id})?$select=_parentaccountid_value,_customerid_value", headers=ANNOTATIONS
    ).json()
    assert body["_parentaccountid_value"] == account_id
    assert body["_parentaccountid_value@OData.Community.Display.V1.FormattedValue"] == "Contoso"
    assert body["_customerid_value"] == contact_id
    assert body["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    assert (
        body["_customerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"]
        == "customerid_contact"
    )
    assert body["_customerid_value@OData.Community.Display.V1.FormattedValue"] == "Ana Lee"


def test_bad_binds_are_refused(api: Api) -> None:
    missing = "00000000-0000-0000-0000-0000000000aa"
    response = api.post("leads", json={"parentaccountid@odata.bind": f"/accounts({missing})"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "0x80040217"

    account_id = api.create("accounts", {"name": "Contoso"})
    wrong_set = api.post("leads", json={"parentcontactid@odata.bind": f"/accounts({account_id})"})
    assert wrong_set.status_code == 400
    assert "needs a 'contact' record" in error_of(wrong_set)["message"]

    raw_lookup = api.post("leads", json={"parentaccountid": account_id})
    assert raw_lookup.status_code == 400
    assert "parentaccountid@odata.bind" in error_of(raw_lookup)["message"]
    assert api.fake.rows("lead") == []


def test_retrieve_missing_record_is_dataverse_404(api: Api) -> None:
    missing = "6f1c2c1e-0000-0000-0000-000000000001"
    response = api.get(f"leads({missing})")

    assert response.status_code == 404
    assert error_of(response) == {
        "code": "0x80040217",
        "message": f"Entity 'lead' With Id = {missing} Does Not Exist",
    }
    assert api.get("leads(not-a-guid)").status_code == 400


def test_patch_with_etags_and_upsert_semantics(api: Api) -> None:
    lead_id = api.create("leads", {"subject": "Old"})
    etag = api.get(f"leads({lead_id})").json()["@odata.etag"]

    ok = api.patch(f"leads({lead_id})", json={"subject": "New"}, headers={"If-Match": etag})
    assert ok.status_code == 204
    assert ok.headers["OData-EntityId"].endswith(f"leads({lead_id})")
    stale = api.patch(f"leads({lead_id})", json={"subject": "Newer"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert error_of(stale) == {
        "code": "0x80060882",
        "message": "The version of the existing record doesn't match the RowVersion property "
        "provided.",
    }
    row = api.fake.get("lead", lead_id)
    assert row is not None and row["subject"] == "New"

    create_only = api.patch(
        f"leads({lead_id})", json={"subject": "Dup"}, headers={"If-None-Match": "*"}
    )
    assert create_only.status_code == 412
    assert error_of(create_only)["code"] == "0x80040237"

    new_id = "3a0e6c2b-1111-4c5d-9e8f-000000000042"
    update_only = api.patch(f"leads({new_id})", json={"subject": "x"}, headers={"If-Match": "*"})
    assert update_only.status_code == 404
    assert api.fake.get("lead", new_id) is None

    upsert = api.patch(f"leads({new_id})", json={"subject": "Upserted"})
    assert upsert.status_code == 204
    assert upsert.headers["OData-EntityId"].endswith(f"leads({new_id})")
    created = api.fake.get("lead", new_id)
    assert created is not None and created["subject"] == "Upserted"

    represented = api.patch(
        f"leads({lead_id})?$select=subject",
        json={"subject": "Shown"},
        headers={"Prefer": "return=representation"},
    )
    assert represented.status_code == 200
    assert represented.json()["subject"] == "Shown"


def test_versions_increase_on_every_write(api: Api) -> None:
    lead_id = api.create("leads", {"subject": "v"})
    first = api.get(f"leads({lead_id})").json()["@odata.etag"]
    api.patch(f"leads({lead_id})", json={"subject": "v2"})
    second = api.get(f"leads({lead_id})").json()["@odata.etag"]

    assert int(second[3:-1]) > int(first[3:-1])


def test_conditional_get_returns_304_when_unchanged(api: Api) -> None:
    lead_id = api.create("leads", {"subject": "c"})
    etag = api.get(f"leads({lead_id})").json()["@odata.etag"]

    assert api.get(f"leads({lead_id})", headers={"If-None-Match": etag}).status_code == 304
    api.patch(f"leads({lead_id})", json={"subject": "changed"})
    assert api.get(f"leads({lead_id})", headers={"If-None-Match": etag}).status_code == 200


def test_delete_removes_row_and_records_a_tombstone(api: Api) -> None:
    lead_id = api.create("leads", {"subject": "gone"})
    etag = api.get(f"leads({lead_id})").json()["@odata.etag"]
    api.patch(f"leads({lead_id})", json={"subject": "changed"})

    assert api.delete(f"leads({lead_id})", headers={"If-Match": etag}).status_code == 412
    assert api.delete(f"leads({lead_id})").status_code == 204
    assert api.fake.get("lead", lead_id) is None
    tombstone = api.fake.store.tombstones[-1]
    assert (tombstone.table, tombstone.id) == ("lead", lead_id)
    assert tombstone.version == api.fake.store.version
    assert api.delete(f"leads({lead_id})").status_code == 404


def test_alternate_key_read_and_upsert(api: Api) -> None:
    created = api.patch("accounts(accountnumber='A%2F1')", json={"name": "Keyed"})
    assert created.status_code == 204
    account = api.fake.rows("account", accountnumber="A/1")
    assert len(account) == 1 and account[0]["name"] == "Keyed"

    api.patch("accounts(accountnumber='A%2F1')", json={"name": "Renamed"})
    body = api.get("accounts(accountnumber='A%2F1')?$select=name").json()
    assert body["name"] == "Renamed"
    assert len(api.fake.rows("account", accountnumber="A/1")) == 1

    duplicate = api.post("accounts", json={"name": "Other", "accountnumber": "A/1"})
    assert duplicate.status_code == 412
    not_a_key = api.get("accounts(name='Renamed')")
    assert not_a_key.status_code == 400
    assert "not an alternate key" in error_of(not_a_key)["message"]


def test_expand_single_valued_navigation(api: Api) -> None:
    account_id = api.create("accounts", {"name": "Fabrikam", "telephone1": "555"})
    lead_id = api.create(
        "leads", {"subject": "e", "parentaccountid@odata.bind": f"/accounts({account_id})"}
    )

    body = api.get(f"leads({lead_id})?$select=subject&$expand=parentaccountid($select=name)").json()
    assert body["parentaccountid"]["name"] == "Fabrikam"
    assert body["parentaccountid"]["accountid"] == account_id
    assert "telephone1" not in body["parentaccountid"]
    empty = api.get(f"leads({lead_id})?$select=subject&$expand=parentcontactid").json()
    assert empty["parentcontactid"] is None
    collection = api.get(f"leads({lead_id})?$expand=lead_parent_account")
    assert collection.status_code == 400


def test_single_property_and_ref_endpoints(api: Api) -> None:
    account_id = api.create("accounts", {"name": "Ref Co"})
    lead_id = api.create(
        "leads",
        {"subject": "p", "parentaccountid@odata.bind": f"/accounts({account_id})"},
    )

    assert api.get(f"leads({lead_id})/subject").json()["value"] == "p"
    assert api.put(f"leads({lead_id})/subject", json={"value": "q"}).status_code == 204
    assert api.get(f"leads({lead_id})/subject").json()["value"] == "q"
    assert api.delete(f"leads({lead_id})/subject").status_code == 204
    assert api.get(f"leads({lead_id})/subject").status_code == 204
    related = api.get(f"leads({lead_id})/parentaccountid")
    assert related.json()["name"] == "Ref Co"
    assert api.delete(f"leads({lead_id})/parentaccountid/$ref").status_code == 204
    row = api.fake.get("lead", lead_id)
    assert row is not None and row["parentaccountid"] is None
    put_ref = api.put(
        f"leads({lead_id})/parentaccountid/$ref",
        json={"@odata.id": f"{api.base}accounts({account_id})"},
    )
    assert put_ref.status_code == 204
    row = api.fake.get("lead", lead_id)
    assert row is not None and row["parentaccountid"] == account_id


def test_routing_errors_and_unimplemented_features(api: Api) -> None:
    unknown = api.get("widgets")
    assert unknown.status_code == 404
    assert "widgets" in error_of(unknown)["message"]
    metadata = api.get("$metadata")
    assert metadata.status_code == 501
    assert "$metadata" in error_of(metadata)["message"]
    apply = api.get("leads?$apply=groupby((statuscode))")
    assert apply.status_code == 501
    assert "$apply" in error_of(apply)["message"]
    bulk = api.post("leads/Microsoft.Dynamics.CRM.DeleteMultiple", json={"Targets": []})
    assert bulk.status_code == 501
    assert "DeleteMultiple" in error_of(bulk)["message"]
    assert api.request("PUT", "leads").status_code == 405
    lead_id = api.create("leads", {"subject": "a"})
    unprefixed = api.post(f"leads({lead_id})/QualifyLead", json={})
    assert unprefixed.status_code == 400
    assert error_of(unprefixed)["message"] == "Request message has unresolved parameters."


def test_missing_bearer_token_is_401(api: Api) -> None:
    response = api.session.get(api.url("leads"), headers={"Authorization": ""}, timeout=5)

    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_whoami_and_service_document(api: Api) -> None:
    body = api.get("WhoAmI").json()
    assert body["UserId"] == api.fake.caller_id
    assert body["BusinessUnitId"] == api.fake.business_unit_id
    assert body["OrganizationId"] == api.fake.organization_id
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
    assert api.fake.get("systemuser", body["UserId"]) is not None

    sets = {item["name"] for item in api.get("").json()["value"]}
    assert {"leads", "accounts", "contacts", "opportunities", "transactioncurrencies"} <= sets


def test_duplicate_detection_only_when_asked(api: Api) -> None:
    api.create("leads", {"subject": "a", "emailaddress1": "Ana@Example.com"})
    ask = {"MSCRM.SuppressDuplicateDetection": "false"}

    assert api.post("leads", json={"emailaddress1": "ana@example.com"}).status_code == 204
    refused = api.post("leads", json={"emailaddress1": " ANA@example.com"}, headers=ask)
    assert refused.status_code == 500
    assert error_of(refused)["code"] == "0x80040333"
    assert len(api.fake.rows("lead")) == 2

    other_id = api.create("leads", {"subject": "b", "emailaddress1": "bo@example.com"})
    update = api.patch(f"leads({other_id})", json={"emailaddress1": "ana@example.com"}, headers=ask)
    assert update.status_code == 500
    assert api.patch(f"leads({other_id})", json={"subject": "c"}, headers=ask).status_code == 204
    account = api.post("accounts", json={"name": "Solo"}, headers=ask)
    assert account.status_code == 204
