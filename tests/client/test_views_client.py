"""client.views and the view-backed lead lists over mocked HTTP."""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import responses

from d365leads import DataverseClient, InvalidInputError

from .conftest import API

CLOSED_ID = "a8c48085-222b-5622-8fd5-133e1345b23a"
MY_OPEN_ID = "5a4d7b1c-0000-5000-8000-000000000001"
PERSONAL_ID = "0c1e2d3f-0000-4000-8000-0000000000aa"
ME = "aaaaaaaa-0000-0000-0000-000000000001"
LEAD = "0000000a-0000-0000-0000-000000000001"
CLOSED_XML = (
    '<fetch version="1.0" mapping="logical"><entity name="lead"><attribute name="fullname"/>'
    '<order attribute="modifiedon" descending="true"/><filter>'
    '<condition attribute="statecode" operator="ne" value="0"/>'
    '<condition attribute="modifiedon" operator="last-x-months" value="12"/>'
    "</filter></entity></fetch>"
)


def system(view_id: str, name: str, xml: str = CLOSED_XML, default: bool = False) -> dict[str, Any]:
    return {
        "savedqueryid": view_id,
        "name": name,
        "fetchxml": xml,
        "querytype": 0,
        "isdefault": default,
        "returnedtypecode": "lead",
    }


def personal(view_id: str, name: str) -> dict[str, Any]:
    return {
        "userqueryid": view_id,
        "name": name,
        "fetchxml": CLOSED_XML,
        "querytype": 0,
        "returnedtypecode": "lead",
    }


def query_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def mock_views(rsps: responses.RequestsMock, saved: list[Any], users: list[Any]) -> None:
    rsps.get(API + "savedqueries", json={"value": saved})
    rsps.get(API + "userqueries", json={"value": users})


def test_list_reads_system_then_personal_views(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    mock_views(
        rsps,
        [system(MY_OPEN_ID, "My Open Leads", default=True), system(CLOSED_ID, "Closed Leads")],
        [personal(PERSONAL_ID, "closed by me")],
    )
    views = client.views.list("lead")
    assert [(v.name, v.kind, v.isdefault) for v in views] == [
        ("Closed Leads", "savedquery", False),
        ("My Open Leads", "savedquery", True),
        ("closed by me", "userquery", False),
    ]
    assert views[0].id == CLOSED_ID and views[0].fetchxml == CLOSED_XML
    saved = query_of(rsps.calls[0])
    assert saved["$filter"] == ["returnedtypecode eq 'lead'"]
    assert set(saved["$select"][0].split(",")) == {
        "savedqueryid",
        "name",
        "fetchxml",
        "querytype",
        "isdefault",
        "returnedtypecode",
    }
    assert urlsplit(rsps.calls[1].request.url).path.endswith("/userqueries")
    with pytest.raises(InvalidInputError):
        client.views.list("lead; drop")


def lead_page(*ids: str, more: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"value": [{"leadid": i, "statecode": 2} for i in ids]}
    if more is not None:
        twice = quote(quote(more, safe=""), safe="")
        body["@Microsoft.Dynamics.CRM.morerecords"] = True
        body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"] = (
            f'<cookie pagenumber="2" pagingcookie="{twice}" istracking="False" />'
        )
    return body


def test_view_by_name_runs_saved_query_and_pages_with_its_fetchxml(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    mock_views(rsps, [system(CLOSED_ID, "Closed Leads")], [])
    cookie = (
        f'<cookie page="1"><leadid last="{{{LEAD.upper()}}}" first="{{{LEAD.upper()}}}"/></cookie>'
    )
    rsps.get(API + "leads", json=lead_page(LEAD, more=cookie))
    rsps.get(API + "leads", json=lead_page("0000000a-0000-0000-0000-000000000002"))
    leads = list(client.leads.view("Closed Leads"))
    assert [str(lead.id) for lead in leads] == [LEAD, "0000000a-0000-0000-0000-000000000002"]
    first, second = query_of(rsps.calls[2]), query_of(rsps.calls[3])
    assert first == {"savedQuery": [CLOSED_ID]}
    fetch = ET.fromstring(second["fetchXml"][0])
    assert fetch.get("page") == "2" and fetch.get("paging-cookie") == cookie
    assert fetch.find("entity/filter/condition[@attribute='modifiedon']") is not None


def test_personal_view_by_id_runs_user_query(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    mock_views(rsps, [system(CLOSED_ID, "Closed Leads")], [personal(PERSONAL_ID, "Mine")])
    rsps.get(API + "leads", json=lead_page(LEAD))
    assert [str(lead.id) for lead in client.leads.view(PERSONAL_ID.upper())] == [LEAD]
    assert query_of(rsps.calls[2]) == {"userQuery": [PERSONAL_ID]}


def test_ambiguous_and_unknown_names_list_the_candidates(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    for _ in range(2):
        mock_views(
            rsps, [system(CLOSED_ID, "Closed Leads")], [personal(PERSONAL_ID, "Closed Leads")]
        )
    with pytest.raises(InvalidInputError) as ambiguous:
        client.leads.view("Closed Leads")
    message = str(ambiguous.value)
    assert CLOSED_ID in message and PERSONAL_ID in message and "personal view" in message
    with pytest.raises(InvalidInputError) as unknown:
        client.leads.view("Closed Lead")
    assert "did you mean: 'Closed Leads'" in str(unknown.value)
    assert all("leads?" not in call.request.url for call in rsps.calls)


def test_closed_runs_the_tenants_view(
    client: DataverseClient, rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.get(API + "savedqueries", json={"value": [system(CLOSED_ID, "Closed Leads")]})
    rsps.get(API + "leads", json=lead_page(LEAD))
    with caplog.at_level(logging.WARNING, logger="d365leads.views"):
        assert [str(lead.id) for lead in client.leads.closed()] == [LEAD]
    assert query_of(rsps.calls[1]) == {"savedQuery": [CLOSED_ID]}
    assert not caplog.records
    # the personal views are not consulted for the product's view
    assert all("userqueries" not in call.request.url for call in rsps.calls)


def test_without_the_views_closed_and_my_open_use_the_filters_and_say_so_once(
    client: DataverseClient, rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.get(API + "savedqueries", json={"value": []})
    rsps.get(API + "leads", json={"value": [{"leadid": LEAD, "statecode": 1}]})
    rsps.get(
        API + "WhoAmI",
        json={"UserId": ME, "BusinessUnitId": ME, "OrganizationId": ME},
    )
    with caplog.at_level(logging.WARNING, logger="d365leads.views"):
        for _ in range(2):
            assert [str(lead.id) for lead in client.leads.closed()] == [LEAD]
            list(client.leads.my_open())
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "the org has no 'Closed Leads' system view for leads; using the built-in filter instead",
        "the org has no 'My Open Leads' system view for leads; using the built-in filter instead",
    ]
    filters = [query_of(c)["$filter"][0] for c in rsps.calls if "/leads?" in c.request.url]
    assert filters[0] == "statecode eq 1 or statecode eq 2"
    assert f"_ownerid_value eq {ME}" in filters[1]


def test_a_missing_savedqueries_table_means_no_views(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        API + "savedqueries",
        status=404,
        json={"error": {"code": "0x80060888", "message": "Resource not found for the segment"}},
    )
    rsps.get(API + "leads", json={"value": []})
    assert list(client.leads.closed()) == []


def test_a_query_uses_the_filter_not_the_view(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(API + "leads", json={"value": [{"leadid": LEAD, "statecode": 2}]})
    assert [str(lead.id) for lead in client.leads.closed("lastname eq 'D'")] == [LEAD]
    assert len(rsps.calls) == 1


def test_two_system_views_with_the_product_name_are_an_error(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    other = "0c1e2d3f-0000-4000-8000-0000000000bb"
    rsps.get(
        API + "savedqueries",
        json={"value": [system(CLOSED_ID, "Closed Leads"), system(other, "Closed Leads")]},
    )
    with pytest.raises(InvalidInputError, match=other):
        client.leads.closed()


def test_a_view_of_another_table_is_refused(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    xml = "<fetch><entity name='account'/></fetch>"
    mock_views(rsps, [system(CLOSED_ID, "Odd", xml)], [])
    with pytest.raises(InvalidInputError, match="'account' table"):
        list(client.leads.view("Odd"))
    assert json.dumps([c.request.url for c in rsps.calls]).count("leads?") == 0


def test_a_view_answered_with_a_next_link_follows_it(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    mock_views(rsps, [system(CLOSED_ID, "Closed Leads")], [])
    next_link = API + "leads?savedQuery=" + CLOSED_ID + "&$skiptoken=2"
    rsps.get(API + "leads", json={**lead_page(LEAD), "@odata.nextLink": next_link})
    rsps.get(API + "leads", json=lead_page("0000000a-0000-0000-0000-000000000002"))
    leads = list(client.leads.view(CLOSED_ID))
    assert len(leads) == 2
    assert rsps.calls[3].request.url == next_link
