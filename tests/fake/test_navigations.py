"""Navigations through both adapters: collection ``/$ref`` and ``/$count``, associate and
disassociate, ``$expand=<nav>/$ref``, nested ``$expand``, the documented expansion shapes, and
the alternate-key ``OData-EntityId``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from _core_api import Api, error_of, make_api

from d365leads.fake import FakeDataverse, FakeOptions


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


def _account_with_leads(api: Api, n: int) -> tuple[str, list[str]]:
    account = api.create("accounts", {"name": "Parent"})
    leads = [
        api.create(
            "leads",
            {"lastname": f"L{i}", "parentaccountid@odata.bind": f"/accounts({account})"},
        )
        for i in range(n)
    ]
    return account, leads


def test_collection_ref_and_count(api: Api) -> None:
    account, leads = _account_with_leads(api, 2)
    api.create("leads", {"lastname": "Elsewhere"})
    refs = api.get(f"accounts({account})/lead_parent_account/$ref").json()
    assert refs["@odata.context"] == f"{api.base}$metadata#Collection($ref)"
    assert sorted(r["@odata.id"] for r in refs["value"]) == sorted(
        f"{api.base}leads({lead})" for lead in leads
    )
    count = api.get(f"accounts({account})/lead_parent_account/$count")
    assert count.status_code == 200 and count.headers["Content-Type"].startswith("text/plain")
    assert count.content.decode("utf-8") == "\ufeff2"
    missing = api.get("accounts(00000000-0000-0000-0000-0000000000aa)/lead_parent_account/$ref")
    assert missing.status_code == 404


def test_associate_and_disassociate_through_a_collection(api: Api) -> None:
    account, _ = _account_with_leads(api, 0)
    lead = api.create("leads", {"lastname": "Loose"})
    nav = f"accounts({account})/lead_parent_account"
    added = api.post(f"{nav}/$ref", json={"@odata.id": f"{api.base}leads({lead})"})
    assert added.status_code == 204, added.text
    assert api.fake.get("lead", lead)["parentaccountid"] == account
    one = api.get(f"{nav}({lead})?$select=lastname").json()
    assert one["lastname"] == "Loose"

    removed = api.delete(f"{nav}({lead})/$ref")
    assert removed.status_code == 204
    assert api.fake.get("lead", lead)["parentaccountid"] is None
    assert api.get(f"{nav}({lead})").status_code == 404

    api.post(f"{nav}/$ref", json={"@odata.id": f"/leads({lead})"})
    by_id = api.delete(f"{nav}/$ref", params={"$id": f"{api.base}leads({lead})"})
    assert by_id.status_code == 204
    assert api.fake.get("lead", lead)["parentaccountid"] is None


def test_associate_sets_the_type_of_a_polymorphic_lookup(api: Api) -> None:
    account = api.create("accounts", {"name": "Customer"})
    contact = api.create("contacts", {"lastname": "Kid"})
    added = api.post(
        f"accounts({account})/contact_customer_accounts/$ref",
        json={"@odata.id": f"/contacts({contact})"},
    )
    assert added.status_code == 204
    row = api.fake.get("contact", contact)
    assert (row["parentcustomerid"], row["parentcustomeridtype"]) == (account, "account")


def test_associate_errors(api: Api) -> None:
    account, _ = _account_with_leads(api, 0)
    contact = api.create("contacts", {"lastname": "Wrong table"})
    nav = f"accounts({account})/lead_parent_account"
    wrong = api.post(f"{nav}/$ref", json={"@odata.id": f"/contacts({contact})"})
    assert wrong.status_code == 400 and "'lead' records" in error_of(wrong)["message"]
    no_body = api.post(f"{nav}/$ref", json={})
    assert no_body.status_code == 400 and "@odata.id" in error_of(no_body)["message"]
    gone = api.post(
        f"{nav}/$ref", json={"@odata.id": "/leads(00000000-0000-0000-0000-0000000000bb)"}
    )
    assert gone.status_code == 404
    neither = api.delete(f"{nav}/$ref")
    assert neither.status_code == 400 and "$id" in error_of(neither)["message"]
    assert api.put(f"{nav}/$ref", json={}).status_code == 405
    assert api.post(nav, json={"lastname": "x"}).status_code == 405
    assert api.fake.rows("lead") == []  # nothing written by any of these


def test_disassociate_of_a_row_that_points_elsewhere_changes_nothing(api: Api) -> None:
    account, (lead,) = _account_with_leads(api, 1)
    other = api.create("accounts", {"name": "Other"})
    answer = api.delete(f"accounts({other})/lead_parent_account({lead})/$ref")
    assert answer.status_code == 204
    assert api.fake.get("lead", lead)["parentaccountid"] == account


def test_navigation_null_clears_a_lookup(api: Api) -> None:
    account, (lead,) = _account_with_leads(api, 1)
    assert api.patch(f"leads({lead})", json={"parentaccountid": None}).status_code == 204
    assert api.fake.get("lead", lead)["parentaccountid"] is None
    # A value other than null is still a bind, not a plain column.
    refused = api.patch(f"leads({lead})", json={"parentaccountid": account})
    assert refused.status_code == 400
    assert "parentaccountid@odata.bind" in error_of(refused)["message"]


def test_expand_ref_and_its_errors(api: Api) -> None:
    account, (lead,) = _account_with_leads(api, 1)
    body = api.get(f"leads({lead})?$select=lastname&$expand=parentaccountid/$ref").json()
    assert body["@odata.context"].endswith("#leads(lastname,parentaccountid)/$entity")
    assert body["parentaccountid"] == {"@odata.id": f"{api.base}accounts({account})"}
    assert body["_parentaccountid_value"] == account
    listed = api.get("leads?$select=lastname&$expand=parentaccountid/$ref").json()
    assert listed["@odata.context"].endswith(
        "#leads(lastname,parentaccountid,parentaccountid/$ref())"
    )
    on_collection = api.get(f"accounts({account})?$expand=lead_parent_account/$ref")
    assert on_collection.status_code == 400
    assert error_of(on_collection) == {
        "code": "0x80060888",
        "message": "Expand with $ref is only supported on lookup type navigation property.",
    }
    ordered = api.get("leads?$expand=parentaccountid($select=name;$top=1)")
    assert ordered.status_code == 400 and error_of(ordered)["code"] == "0x80060888"


def test_nested_expand_and_filter_inside_a_single_valued_expand(api: Api) -> None:
    account, (lead,) = _account_with_leads(api, 1)
    user = api.get("WhoAmI").json()["UserId"]
    body = api.get(
        f"leads({lead})?$select=lastname"
        "&$expand=parentaccountid($select=name;$expand=createdby($select=fullname))"
    ).json()
    assert body["@odata.context"].endswith(
        "#leads(lastname,parentaccountid,parentaccountid(name,createdby(fullname)))/$entity"
    )
    parent = body["parentaccountid"]
    assert parent["accountid"] == account and "@odata.etag" in parent  # entity shape
    assert parent["createdby"]["systemuserid"] == user
    assert parent["createdby"]["ownerid"] == user
    filtered = api.get(
        f"leads({lead})?$expand=parentaccountid($select=name;$filter=name eq 'Nope')"
    ).json()
    assert filtered["parentaccountid"] is None


def test_collection_query_expansion_shape(api: Api) -> None:
    account, leads = _account_with_leads(api, 2)
    body = api.get(
        "accounts?$select=name&$expand=lead_parent_account($select=lastname),createdby($select=fullname)"
    ).json()
    assert body["@odata.context"].endswith(
        "#accounts(name,lead_parent_account(lastname),createdby(fullname))"
    )
    (row,) = body["value"]
    assert "@odata.etag" not in row["createdby"]  # single-valued rows without an ETag here
    assert sorted(r["leadid"] for r in row["lead_parent_account"]) == sorted(leads)
    assert all(r["_parentaccountid_value"] == account for r in row["lead_parent_account"])
    link = row["lead_parent_account@odata.nextLink"]
    assert link == f"{api.base}accounts({account})/lead_parent_account?$select=lastname"
    followed = api.get(link).json()
    assert sorted(r["lastname"] for r in followed["value"]) == ["L0", "L1"]


def test_collection_expand_reads_the_related_table_once_per_request() -> None:
    fake = FakeDataverse(options=FakeOptions(), sleep=lambda seconds: None)
    accounts = fake.seed("account", [{"name": f"A{i}"} for i in range(20)])
    fake.seed(
        "lead", [{"lastname": f"L{i}", "parentaccountid": accounts[i % 20]} for i in range(60)]
    )
    reads: list[str] = []
    rows = fake.org.store.rows

    def counting(table: str) -> list[dict[str, object]]:
        reads.append(table)
        return rows(table)

    fake.org.store.rows = counting  # type: ignore[method-assign]
    with fake.mock():
        answer = requests.get(
            f"{fake.base_url}accounts?$select=name&$expand=lead_parent_account($select=lastname)",
            headers={"Authorization": "Bearer t"},
            timeout=5,
        )
    assert answer.status_code == 200
    assert all(len(r["lead_parent_account"]) == 3 for r in answer.json()["value"])
    assert reads.count("lead") == 1


def test_alternate_key_patch_answers_in_the_key_form(api: Api) -> None:
    created = api.patch("accounts(accountnumber='A-1')", json={"name": "Keyed"})
    assert created.status_code == 204
    location = created.headers["OData-EntityId"]
    assert location == f"{api.base}accounts(accountnumber='A-1')"
    record = api.fake.rows("account")[0]["accountid"]
    by_id = api.patch(f"accounts({record})", json={"name": "x"})
    assert by_id.headers["OData-EntityId"] == f"{api.base}accounts({record})"


def test_deep_insert_creates_the_related_rows_in_one_request(api: Api) -> None:
    answer = api.post(
        "accounts",
        json={
            "name": "Deep",
            "primarycontactid": {"firstname": "John", "lastname": "Smith"},
            "opportunity_customer_accounts": [
                {"name": "Opp", "parentcontactid": {"lastname": "Inner"}},
                {"name": "Opp 2"},
            ],
            "lead_parent_account": [{"lastname": "Nested lead"}],
        },
    )
    assert answer.status_code == 204, answer.text
    account = answer.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    row = api.fake.get("account", account)
    contact = api.fake.get("contact", row["primarycontactid"])
    assert (contact["firstname"], contact["lastname"]) == ("John", "Smith")
    opportunities = api.fake.rows("opportunity")
    assert sorted(o["name"] for o in opportunities) == ["Opp", "Opp 2"]
    assert {(o["customerid"], o["customeridtype"]) for o in opportunities} == {(account, "account")}
    (inner,) = [o for o in opportunities if o["name"] == "Opp"]
    assert api.fake.get("contact", inner["parentcontactid"])["lastname"] == "Inner"
    (lead,) = api.fake.rows("lead")
    assert lead["parentaccountid"] == account


def test_deep_insert_is_all_or_nothing(api: Api) -> None:
    answer = api.post(
        "accounts",
        json={
            "name": "Deep",
            "primarycontactid": {"lastname": "Kept?"},
            "lead_parent_account": [{"lastname": "ok"}, {"no_such_column": 1}],
        },
    )
    assert answer.status_code == 400
    assert "no_such_column" in error_of(answer)["message"]
    assert api.fake.rows("account") == [] and api.fake.rows("contact") == []
    assert api.fake.rows("lead") == []


def test_collection_bind_on_create_associates_existing_rows(api: Api) -> None:
    leads = [api.create("leads", {"lastname": f"L{i}"}) for i in range(2)]
    answer = api.post(
        "accounts?$select=name&$expand=lead_parent_account($select=lastname)",
        json={
            "name": "Binder",
            "lead_parent_account@odata.bind": [f"/leads({lead})" for lead in leads],
        },
        headers={"Prefer": "return=representation"},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["@odata.context"].endswith("#accounts(name,lead_parent_account(lastname))/$entity")
    assert sorted(r["leadid"] for r in body["lead_parent_account"]) == sorted(leads)
    missing = api.post(
        "accounts",
        json={
            "name": "Missing",
            "lead_parent_account@odata.bind": ["/leads(00000000-0000-0000-0000-0000000000cc)"],
        },
    )
    assert missing.status_code == 404
    assert [r["name"] for r in api.fake.rows("account")] == ["Binder"]
