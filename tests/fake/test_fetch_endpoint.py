"""``GET /<set>?fetchXml=``, ``?savedQuery=`` and ``?userQuery=`` on the fake, over raw HTTP on
both adapters, and the ``savedqueries``/``userqueries`` tables seeded with the lead views."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import pytest
from _core_api import Api, error_of, make_api

from d365leads import DataverseClient, StaticTokenProvider
from d365leads.fake import FakeDataverse, FakeOptions
from d365leads.fake.fetchxml import load_lead_views, load_system_views

CLOSED = "a8c48085-222b-5622-8fd5-133e1345b23a"
PRODUCT_VIEWS = {view["name"]: view["savedqueryid"] for view in load_lead_views()}
PREFER_ALL = {"Prefer": 'odata.include-annotations="*"'}
FORMATTED = "@OData.Community.Display.V1.FormattedValue"


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


def fetch(api: Api, xml: str, **kwargs: object) -> tuple[int, dict[str, object]]:
    response = api.get("leads?fetchXml=" + quote(xml, safe=""), **kwargs)  # type: ignore[arg-type]
    return response.status_code, response.json()


def seed(api: Api) -> list[str]:
    account = api.fake.seed("account", {"name": "Contoso"})[0]
    return api.fake.seed(
        "lead",
        [
            {
                "lastname": f"Lee{i}",
                "companyname": "C1" if i % 2 else "C2",
                "statecode": 0 if i < 4 else 2,
                "statuscode": 1 if i < 4 else 4,
                "revenue": 100.0 * i,
                "parentaccountid": account if i % 3 == 0 else None,
            }
            for i in range(8)
        ],
    )


def test_the_org_has_the_lead_views_listed_by_returnedtypecode(api: Api) -> None:
    response = api.get(
        "savedqueries?$select=name,savedqueryid,fetchxml,querytype,isdefault,returnedtypecode"
        "&$filter=returnedtypecode eq 'lead'"
    )
    assert response.status_code == 200, response.text
    rows = response.json()["value"]
    assert {row["name"]: row["savedqueryid"] for row in rows} == PRODUCT_VIEWS
    assert {row["name"] for row in rows if row["isdefault"]} == {"My Open Leads"}
    assert all(row["fetchxml"].startswith("<fetch") and row["querytype"] == 0 for row in rows)
    accounts = api.get("savedqueries?$filter=returnedtypecode eq 'account'").json()["value"]
    assert sorted(row["name"] for row in accounts) == [
        "Active Accounts",
        "Inactive Accounts",
        "My Active Accounts",
    ]
    none = api.get("savedqueries?$filter=returnedtypecode eq 'task'").json()["value"]
    assert none == []
    api.fake.clear_data()
    again = api.get("savedqueries?$select=name").json()["value"]
    assert sorted(row["name"] for row in again) == sorted(v["name"] for v in load_system_views())


def test_fetch_rows_attributes_lookups_and_null_columns(api: Api) -> None:
    ids = seed(api)
    status, body = fetch(
        api,
        "<fetch><entity name='lead'><attribute name='lastname'/>"
        "<attribute name='parentaccountid'/>"
        "<filter><condition attribute='companyname' operator='eq' value='C1'/></filter>"
        "<order attribute='lastname'/></entity></fetch>",
    )
    assert status == 200, body
    rows = body["value"]
    assert isinstance(rows, list)
    expected = sorted(r["lastname"] for r in api.fake.rows("lead", companyname="C1"))
    assert [row["lastname"] for row in rows] == expected
    by_name = {row["lastname"]: row for row in rows}
    assert "_parentaccountid_value" in by_name["Lee3"]
    assert "_parentaccountid_value" not in by_name["Lee1"]  # null columns are left out
    assert set(by_name["Lee1"]) == {"@odata.etag", "lastname", "leadid"}
    assert {row["leadid"] for row in rows} <= set(ids)
    assert "@Microsoft.Dynamics.CRM.morerecords" not in body


def test_formatted_values_only_under_prefer(api: Api) -> None:
    seed(api)
    xml = (
        "<fetch><entity name='lead'><attribute name='statecode'/><attribute name='revenue'/>"
        "<attribute name='parentaccountid'/><filter>"
        "<condition attribute='lastname' operator='eq' value='Lee6'/></filter></entity></fetch>"
    )
    _, plain = fetch(api, xml)
    (row,) = plain["value"]  # type: ignore[misc]
    assert not any("@" in key for key in row if key != "@odata.etag")
    _, rich = fetch(api, xml, headers=PREFER_ALL)
    (row,) = rich["value"]  # type: ignore[misc]
    assert row[f"statecode{FORMATTED}"] == "Disqualified"
    assert row[f"revenue{FORMATTED}"] == "$600.00"
    assert row[f"_parentaccountid_value{FORMATTED}"] == "Contoso"
    assert row["_parentaccountid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"


def test_link_entity_columns_come_back_as_alias_dot_column(api: Api) -> None:
    seed(api)
    status, body = fetch(
        api,
        "<fetch><entity name='lead'><attribute name='lastname'/>"
        "<link-entity name='account' from='accountid' to='parentaccountid' alias='acc'>"
        "<attribute name='name'/></link-entity></entity></fetch>",
    )
    assert status == 200, body
    rows = body["value"]
    assert isinstance(rows, list)
    assert sorted(row["lastname"] for row in rows) == ["Lee0", "Lee3", "Lee6"]
    assert {row["acc.name"] for row in rows} == {"Contoso"}


def test_aggregate_counts_match_an_independent_count(api: Api) -> None:
    seed(api)
    status, body = fetch(
        api,
        "<fetch aggregate='true'><entity name='lead'>"
        "<attribute name='leadid' alias='n' aggregate='count'/>"
        "<attribute name='statecode' alias='state' groupby='true'/>"
        "<attribute name='revenue' alias='total' aggregate='sum'/></entity></fetch>",
    )
    assert status == 200, body
    rows = body["value"]
    assert isinstance(rows, list)
    leads = api.fake.rows("lead")
    counts = Counter(row["statecode"] for row in leads)
    totals: Counter[int] = Counter()
    for row in leads:
        totals[row["statecode"]] += row["revenue"]
    assert {row["state"]: row["n"] for row in rows} == dict(counts)
    assert {row["state"]: row["total"] for row in rows} == pytest.approx(dict(totals))


def test_pages_by_cookie_with_the_documented_annotations(api: Api) -> None:
    ids = seed(api)
    query = ElementTree.fromstring(
        "<fetch count='3'><entity name='lead'><attribute name='lastname'/></entity></fetch>"
    )
    seen: list[str] = []
    page = 1
    while True:
        query.set("page", str(page))
        status, body = fetch(api, ElementTree.tostring(query, encoding="unicode"))
        assert status == 200, body
        seen.extend(str(row["leadid"]) for row in body["value"])  # type: ignore[union-attr]
        if not body.get("@Microsoft.Dynamics.CRM.morerecords"):
            break
        annotation = str(body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"])
        cookie = ElementTree.fromstring(annotation).attrib
        assert cookie["pagenumber"] == str(page + 1) and cookie["istracking"] == "False"
        query.set("paging-cookie", unquote(unquote(cookie["pagingcookie"])))
        page += 1
    assert page == 3
    assert sorted(seen) == sorted(ids)


def test_saved_query_runs_the_stored_fetchxml(api: Api) -> None:
    ids = seed(api)
    response = api.get(f"leads?savedQuery={CLOSED}")
    assert response.status_code == 200, response.text
    found = {row["leadid"] for row in response.json()["value"]}
    assert found == {row["leadid"] for row in api.fake.rows("lead") if row["statecode"] != 0}
    assert found == set(ids[4:])


def test_a_changed_view_answers_its_new_query(api: Api) -> None:
    seed(api)
    changed = (
        "<fetch><entity name='lead'><attribute name='lastname'/><filter>"
        "<condition attribute='statecode' operator='ne' value='0'/>"
        "<condition attribute='companyname' operator='eq' value='C1'/>"
        "</filter></entity></fetch>"
    )
    patched = api.patch(f"savedqueries({CLOSED})", json={"fetchxml": changed})
    assert patched.status_code == 204, patched.text
    response = api.get(f"leads?savedQuery={CLOSED}")
    assert sorted(row["lastname"] for row in response.json()["value"]) == ["Lee5", "Lee7"]


def test_user_query_from_a_seed_file(api: Api, tmp_path: Path) -> None:
    seed(api)
    file = tmp_path / "views.yaml"
    file.write_text(
        "userquery:\n"
        "  - userqueryid: 0c1e2d3f-0000-4000-8000-0000000000aa\n"
        "    name: C2 leads\n"
        "    returnedtypecode: lead\n"
        "    querytype: 0\n"
        "    fetchxml: >-\n"
        "      <fetch><entity name='lead'><attribute name='lastname'/><filter>\n"
        "      <condition attribute='companyname' operator='eq' value='C2'/></filter>\n"
        "      </entity></fetch>\n"
    )
    api.fake.seed_file(file)
    listed = api.get("userqueries?$filter=returnedtypecode eq 'lead'&$select=name").json()
    assert [row["name"] for row in listed["value"]] == ["C2 leads"]
    response = api.get("leads?userQuery=0c1e2d3f-0000-4000-8000-0000000000aa")
    assert sorted(r["lastname"] for r in response.json()["value"]) == [
        "Lee0",
        "Lee2",
        "Lee4",
        "Lee6",
    ]


@pytest.mark.parametrize(
    ("path", "status", "code", "words"),
    [
        (
            "leads?fetchXml=" + quote("<fetch><entity name='lead'>"),
            400,
            "0x80040201",
            "Invalid XML",
        ),
        (
            "leads?fetchXml="
            + quote("<fetch><entity name='lead'><attribute name='nope'/></entity></fetch>"),
            400,
            "0x80041103",
            "'lead' entity doesn't contain attribute with Name = 'nope'.",
        ),
        (
            "leads?fetchXml="
            + quote(
                "<fetch><entity name='lead'><attribute name='lastname' dategrouping='year'/>"
                "</entity></fetch>"
            ),
            501,
            "",
            "dategrouping",
        ),
        (
            "accounts?fetchXml="
            + quote("<fetch><entity name='lead'><attribute name='lastname'/></entity></fetch>"),
            400,
            "0x80060888",
            "does not match the entity set",
        ),
        ("leads?savedQuery=00000000-0000-0000-0000-0000000000ff", 404, "0x80040217", "savedquery"),
        (f"accounts?savedQuery={CLOSED}", 400, "0x80060888", "returns 'lead' rows"),
        ("leads?savedQuery=nope", 400, "0x80060888", "not a valid GUID"),
        (f"leads?savedQuery={CLOSED}&$select=lastname", 400, "0x80060888", "$select"),
        (f"leads?savedQuery={CLOSED}&fetchXml=x", 400, "0x80060888", "cannot be combined"),
    ],
)
def test_refusals(api: Api, path: str, status: int, code: str, words: str) -> None:
    response = api.get(path)
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code
    assert words in error["message"]


def test_plus_in_a_fetchxml_value_is_a_plus(api: Api) -> None:
    api.fake.seed("lead", [{"lastname": "A+B"}, {"lastname": "A B"}])
    xml = (
        "<fetch><entity name='lead'><attribute name='lastname'/><filter>"
        "<condition attribute='lastname' operator='eq' value='A+B'/></filter></entity></fetch>"
    )
    status, body = fetch(api, xml)
    assert status == 200, body
    assert [row["lastname"] for row in body["value"]] == ["A+B"]  # type: ignore[union-attr]


def test_views_are_a_fake_dataverse_table() -> None:
    fake = FakeDataverse()
    names = sorted(view["name"] for view in fake.rows("savedquery"))
    assert names == sorted(view["name"] for view in load_system_views())
    assert set(PRODUCT_VIEWS) < set(names)


@pytest.mark.parametrize("api_mode", ["inprocess", "server"])
def test_paging_annotations_only_when_asked_under_the_switch(api_mode: str) -> None:
    class Param:
        param = api_mode

    for api in make_api(Param(), FakeOptions(fetchxml_paging_annotations="when_asked")):  # type: ignore[arg-type]
        seed(api)
        xml = "<fetch count='2'><entity name='lead'><attribute name='lastname'/></entity></fetch>"
        _, bare = fetch(api, xml)
        assert len(bare["value"]) == 2  # type: ignore[arg-type]
        assert not any(key.startswith("@Microsoft") for key in bare)
        prefer = {
            "Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,'
            'Microsoft.Dynamics.CRM.morerecords"'
        }
        _, asked = fetch(api, xml, headers=prefer)
        assert asked["@Microsoft.Dynamics.CRM.morerecords"] is True
        assert str(asked["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]).startswith("<cookie")
        org = api.base.split("/api/data/")[0]
        with DataverseClient(org, token_provider=StaticTokenProvider("t")) as client:
            rows = list(client.records.fetch("leads", xml))
        assert sorted(row["leadid"] for row in rows) == sorted(
            r["leadid"] for r in api.fake.rows("lead")
        )
