"""Collection reads of the fake: filter, order, top, count, paging, annotations."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from _core_api import Api, error_of, make_api

from d365leads.fake import FakeOptions


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


@pytest.fixture(params=["inprocess", "server"])
def small_count_api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request, FakeOptions(max_count=3))


def _seed_leads(api: Api, n: int) -> list[str]:
    return api.fake.seed(
        "lead",
        [
            {"subject": f"Lead {i:02d}", "lastname": f"Name{i:02d}", "numberofemployees": i}
            for i in range(n)
        ],
    )


def test_filter_orderby_select_and_top(api: Api) -> None:
    _seed_leads(api, 6)
    api.fake.seed("lead", {"subject": "Closed", "statecode": 2, "statuscode": 6})

    response = api.get(
        "leads?$select=subject,numberofemployees&$filter=statecode eq 0 and numberofemployees ge 2"
        "&$orderby=numberofemployees desc&$top=3"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == api.base + "$metadata#leads(subject,numberofemployees)"
    assert [r["subject"] for r in body["value"]] == ["Lead 05", "Lead 04", "Lead 03"]
    assert set(body["value"][0]) == {"@odata.etag", "subject", "numberofemployees", "leadid"}
    assert "@odata.nextLink" not in body


def test_filter_with_encoded_spaces_and_parameter_aliases(api: Api) -> None:
    _seed_leads(api, 3)

    response = api.get("leads?$filter=subject%20eq%20@p1&@p1='Lead%2001'&$select=subject")

    assert [r["subject"] for r in response.json()["value"]] == ["Lead 01"]


def test_bad_filter_and_skip_are_400(api: Api) -> None:
    unknown = api.get("leads?$filter=nope eq 1")
    assert unknown.status_code == 400
    assert "nope" in error_of(unknown)["message"]
    skip = api.get("leads?$skip=10")
    assert skip.status_code == 400
    assert "$skip" in error_of(skip)["message"]


def test_paging_with_maxpagesize_and_cookie_shaped_skiptoken(api: Api) -> None:
    ids = _seed_leads(api, 7)
    prefer = {"Prefer": "odata.maxpagesize=3"}

    first = api.get("leads?$select=subject&$orderby=subject", headers=prefer)
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=3"
    body = first.json()
    assert len(body["value"]) == 3
    link = body["@odata.nextLink"]
    token = parse_qs(urlsplit(link).query)["$skiptoken"][0]
    assert token.startswith('<cookie pagenumber="2" pagingcookie="')
    assert token.endswith('" istracking="False" />')
    assert token.lower().count("%3ccookie") == 1  # the inner paging cookie is URL-encoded
    assert "%253ccookie" in link.lower()  # ... and once more in the link, as Dataverse does

    seen = [r["leadid"] for r in body["value"]]
    pages = 1
    while "@odata.nextLink" in body:
        body = api.get(body["@odata.nextLink"], headers=prefer).json()
        seen.extend(r["leadid"] for r in body["value"])
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(ids)
    assert len(set(seen)) == 7


def test_paging_survives_a_deleted_boundary_row(api: Api) -> None:
    ids = _seed_leads(api, 6)
    prefer = {"Prefer": "odata.maxpagesize=2"}

    body = api.get("leads?$orderby=subject&$select=subject", headers=prefer).json()
    api.fake.store.delete("lead", body["value"][-1]["leadid"])
    rest = api.get(body["@odata.nextLink"], headers=prefer).json()

    assert [r["subject"] for r in rest["value"]] == ["Lead 02", "Lead 03"]
    assert len(ids) == 6


def test_tampered_skiptoken_is_400(api: Api) -> None:
    _seed_leads(api, 3)
    response = api.get("leads?$skiptoken=%3Ccookie%20pagenumber%3D%222%22%20%2F%3E")

    assert response.status_code == 400
    assert "$skiptoken" in error_of(response)["message"]


def test_maxpagesize_above_5000_is_ignored(api: Api) -> None:
    _seed_leads(api, 2)
    response = api.get("leads", headers={"Prefer": "odata.maxpagesize=6000"})

    assert response.status_code == 200
    assert "Preference-Applied" not in response.headers
    assert len(response.json()["value"]) == 2


def test_count_and_total_record_count_annotations(small_count_api: Api) -> None:
    api = small_count_api
    _seed_leads(api, 5)

    body = api.get(
        "leads?$count=true&$select=subject",
        headers={
            "Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,'
            'Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"'
        },
    ).json()
    assert body["@odata.count"] == 3
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 3
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True
    assert len(body["value"]) == 5

    plain = api.get("leads/$count")
    assert plain.headers["Content-Type"].startswith("text/plain")
    assert plain.text == "3"


def test_count_endpoint_honours_filter(api: Api) -> None:
    _seed_leads(api, 4)

    assert api.get("leads/$count?$filter=numberofemployees lt 2").text == "2"


def test_formatted_values_follow_the_annotation_list(api: Api) -> None:
    api.fake.seed(
        "lead",
        {"subject": "Fmt", "statecode": 2, "statuscode": 6, "revenue": 1234.5, "leadsourcecode": 8},
    )

    only_formatted = api.get(
        "leads?$select=statuscode,revenue,leadsourcecode",
        headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'},
    )
    row = only_formatted.json()["value"][0]
    assert row["statuscode@OData.Community.Display.V1.FormattedValue"] == "No Longer Interested"
    assert row["revenue@OData.Community.Display.V1.FormattedValue"] == "$1,234.50"
    assert row["leadsourcecode@OData.Community.Display.V1.FormattedValue"] == "Web"
    applied = unquote(only_formatted.headers["Preference-Applied"])
    assert "OData.Community.Display.V1.FormattedValue" in applied

    plain = api.get("leads?$select=statuscode").json()["value"][0]
    assert not any("@" in key for key in plain if key != "@odata.etag")


def test_collection_valued_expand_and_navigation(api: Api) -> None:
    account_id = api.create("accounts", {"name": "Parent"})
    other_id = api.create("accounts", {"name": "Other"})
    for name, parent in (("Zed", account_id), ("Amy", account_id), ("Bob", other_id)):
        api.create(
            "contacts",
            {"lastname": name, "parentcustomerid_account@odata.bind": f"/accounts({parent})"},
        )
    # A contact-typed customer with the same id must not count as the account's contact.
    api.fake.seed(
        "contact",
        {"lastname": "Typed", "parentcustomerid": account_id, "parentcustomeridtype": "contact"},
    )

    body = api.get(
        f"accounts({account_id})?$select=name"
        "&$expand=contact_customer_accounts($select=lastname;$orderby=lastname desc)"
    ).json()
    assert [c["lastname"] for c in body["contact_customer_accounts"]] == ["Zed", "Amy"]
    assert set(body["contact_customer_accounts"][0]) == {"@odata.etag", "lastname", "contactid"}

    filtered = api.get(
        f"accounts({account_id})?$expand=contact_customer_accounts($filter=lastname eq 'Amy')"
    ).json()
    assert [c["lastname"] for c in filtered["contact_customer_accounts"]] == ["Amy"]

    listed = api.get(
        f"accounts({account_id})/contact_customer_accounts?$select=lastname&$orderby=lastname"
    ).json()
    assert [c["lastname"] for c in listed["value"]] == ["Amy", "Zed"]
    unknown = api.get(f"accounts({account_id})?$expand=contact_customer_accounts($expand=x)")
    assert unknown.status_code == 400
    assert "Could not find a property named 'x'" in unknown.json()["error"]["message"]
    nested = api.get(
        f"accounts({account_id})?$select=name&$expand=contact_customer_accounts("
        "$select=lastname;$filter=lastname eq 'Amy';$expand=createdby($select=fullname))"
    ).json()
    (amy,) = nested["contact_customer_accounts"]
    caller = api.get("WhoAmI").json()["UserId"]
    assert amy["createdby"]["systemuserid"] == caller
    assert amy["createdby"]["ownerid"] == caller  # a user owns itself


def test_top_with_maxpagesize_switch(api: Api) -> None:
    _seed_leads(api, 5)
    prefer = {"Prefer": "odata.maxpagesize=2"}

    api.fake.options = api.fake.options.replace(top_with_maxpagesize="honour_top")
    honoured = api.get("leads?$top=3&$orderby=subject", headers=prefer).json()
    seen = len(honoured["value"])
    while "@odata.nextLink" in honoured:
        honoured = api.get(honoured["@odata.nextLink"], headers=prefer).json()
        seen += len(honoured["value"])
    assert seen == 3

    api.fake.options = api.fake.options.replace(top_with_maxpagesize="ignore_top")
    ignored = api.get("leads?$top=3&$orderby=subject", headers=prefer).json()
    seen = len(ignored["value"])
    while "@odata.nextLink" in ignored:
        ignored = api.get(ignored["@odata.nextLink"], headers=prefer).json()
        seen += len(ignored["value"])
    assert seen == 5
