"""client.records.fetch / client.leads.fetch over mocked HTTP in Dataverse's FetchXML wire shape."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import responses

from d365leads import DataverseClient, InvalidInputError
from d365leads.errors import DataverseError

from .conftest import API

COOKIE_PAGE_1 = (
    '<cookie page="1"><fullname last="Bo &amp; Co" first="Ann" />'
    '<leadid last="{0000000A-0000-0000-0000-000000000002}" '
    'first="{0000000A-0000-0000-0000-000000000001}" /></cookie>'
)
FORMATTED = "@OData.Community.Display.V1.FormattedValue"


def lead_id(n: int) -> str:
    return f"0000000a-0000-0000-0000-{n:012d}"


def annotation(page: int, inner: str) -> str:
    # pagingcookie is URL-encoded twice, as Dataverse sends it
    twice = quote(quote(inner, safe=""), safe="")
    return f'<cookie pagenumber="{page + 1}" pagingcookie="{twice}" istracking="False" />'


def sent_fetch(request: Any) -> ET.Element:
    query = parse_qs(urlsplit(request.url).query)
    (text,) = query["fetchXml"]
    return ET.fromstring(text)


class PagedLeads:
    """A server of three FetchXML pages that checks what each request sends."""

    def __init__(self) -> None:
        self.fetches: list[ET.Element] = []

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        import json

        fetch = sent_fetch(request)
        self.fetches.append(fetch)
        page = int(fetch.get("page", "0"))
        rows = [
            {
                "@odata.etag": f'W/"{page}"',
                "leadid": lead_id(2 * page - 1 + i),
                "fullname": f"Lead {2 * page - 1 + i}",
                "statecode": 0,
                "statecode" + FORMATTED: "Open",
                "acc.name": f"Account {page}",
            }
            for i in range(2 if page < 3 else 1)
        ]
        body: dict[str, Any] = {"value": rows}
        if page < 3:
            inner = COOKIE_PAGE_1.replace('page="1"', f'page="{page}"')
            body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"] = annotation(page, inner)
            body["@Microsoft.Dynamics.CRM.morerecords"] = True
        return 200, {}, json.dumps(body)


XML = """<fetch>
  <entity name="lead">
    <attribute name="fullname" />
    <order attribute="fullname" />
    <link-entity name="account" from="accountid" to="parentaccountid" alias="acc">
      <attribute name="name" />
    </link-entity>
  </entity>
</fetch>"""


def test_fetch_pages_by_cookie_one_page_at_a_time(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    server = PagedLeads()
    rsps.add_callback("GET", API + "leads", callback=server, content_type="application/json")
    rows = client.records.fetch("leads", XML, page_size=2)
    first = next(rows)
    assert len(rsps.calls) == 1  # nothing is read ahead of the rows asked for
    assert first["acc.name"] == "Account 1" and first["statecode" + FORMATTED] == "Open"
    rest = list(rows)
    assert [row["leadid"] for row in [first, *rest]] == [lead_id(n) for n in range(1, 6)]
    assert [f.get("page") for f in server.fetches] == ["1", "2", "3"]
    assert {f.get("count") for f in server.fetches} == {"2"}
    assert server.fetches[0].get("paging-cookie") is None
    # the cookie goes back decoded, exactly as the server wrote it for the page before
    assert server.fetches[1].get("paging-cookie") == COOKIE_PAGE_1
    assert server.fetches[2].get("paging-cookie") == COOKIE_PAGE_1.replace('page="1"', 'page="2"')
    request = rsps.calls[0].request
    assert 'odata.include-annotations="*"' in request.headers["Prefer"]
    assert "+" not in urlsplit(request.url).query  # spaces as %20


def test_without_annotations_only_the_paging_ones_are_asked_for(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(API + "leads", json={"value": []})
    assert list(client.records.fetch("leads", XML, annotations=False)) == []
    prefer = rsps.calls[0].request.headers["Prefer"]
    assert "Microsoft.Dynamics.CRM.fetchxmlpagingcookie" in prefer and "*" not in prefer


def test_more_records_without_a_cookie_pages_by_number(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        API + "leads",
        json={"value": [{"leadid": lead_id(1)}], "@Microsoft.Dynamics.CRM.morerecords": True},
    )
    rsps.get(API + "leads", json={"value": [{"leadid": lead_id(2)}]})
    rows = list(client.records.fetch("leads", "<fetch count='1'><entity name='lead'/></fetch>"))
    assert [row["leadid"] for row in rows] == [lead_id(1), lead_id(2)]
    second = sent_fetch(rsps.calls[1].request)
    assert second.get("page") == "2" and second.get("paging-cookie") is None


def test_top_is_one_request_and_aggregates_keep_their_aliases(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        API + "leads",
        json={
            "value": [{"state": 0, "n": 7, "state" + FORMATTED: "Open"}],
            "@Microsoft.Dynamics.CRM.morerecords": True,
        },
    )
    xml = (
        "<fetch aggregate='true' top='1'><entity name='lead'>"
        "<attribute name='statecode' alias='state' groupby='true'/>"
        "<attribute name='leadid' alias='n' aggregate='count'/></entity></fetch>"
    )
    assert list(client.records.fetch("leads", xml)) == [
        {"state": 0, "n": 7, "state" + FORMATTED: "Open"}
    ]
    assert len(rsps.calls) == 1
    assert sent_fetch(rsps.calls[0].request).get("page") is None


@pytest.mark.parametrize(
    ("xml", "words"),
    [
        ("<fetch>\n <entity name='lead'>\n <attribute name=a/>\n</entity></fetch>", "line 3"),
        ("<fetch>\n  <entity name='lead' name='x'>\n</entity></fetch>", "duplicate attribute"),
        ("<fetch>\n<entity name='lead'>\n<attribute name='a'>\n</entity></fetch>", "line 4"),
        ("", "empty"),
        ("<query><entity name='lead'/></query>", "<query>"),
        ("<fetch><entity/></fetch>", "exactly one <entity name="),
    ],
)
def test_malformed_xml_is_refused_before_sending(
    client: DataverseClient, rsps: responses.RequestsMock, xml: str, words: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        client.records.fetch("leads", xml)
    assert words in str(caught.value)
    with pytest.raises(InvalidInputError):
        client.leads.fetch(xml)
    assert len(rsps.calls) == 0


def test_the_entity_must_match_the_entity_set(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    with pytest.raises(InvalidInputError, match="'lead' table, whose entity set is 'leads'"):
        client.records.fetch("accounts", XML)
    with pytest.raises(InvalidInputError, match="'account' table"):
        client.leads.fetch("<fetch><entity name='account'/></fetch>")
    assert len(rsps.calls) == 0


def test_an_unknown_table_is_looked_up_once(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        API + "EntityDefinitions(LogicalName='new_widget')",
        json={"EntitySetName": "new_widgets"},
    )
    rsps.get(API + "new_widgets", json={"value": [{"new_widgetid": lead_id(9)}]})
    xml = "<fetch><entity name='new_widget'/></fetch>"
    assert list(client.records.fetch("new_widgets", xml)) == [{"new_widgetid": lead_id(9)}]
    assert list(client.records.fetch("new_widgets", xml)) == [{"new_widgetid": lead_id(9)}]
    assert sum("EntityDefinitions" in call.request.url for call in rsps.calls) == 1
    with pytest.raises(InvalidInputError, match="'new_widgets'"):
        client.records.fetch("leads", xml)


def test_too_long_and_bad_page_sizes_are_refused(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    values = "".join(f"<value>{lead_id(n)}</value>" for n in range(2000))
    long_xml = (
        "<fetch><entity name='lead'><filter><condition attribute='leadid' operator='in'>"
        f"{values}</condition></filter></entity></fetch>"
    )
    with pytest.raises(InvalidInputError, match="32768"):
        list(client.records.fetch("leads", long_xml))
    with pytest.raises(InvalidInputError, match="page_size"):
        list(client.records.fetch("leads", XML, page_size=5001))
    assert len(rsps.calls) == 0


def test_a_page_that_is_empty_but_says_more_is_an_error(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(API + "leads", json={"value": [], "@Microsoft.Dynamics.CRM.morerecords": True})
    with pytest.raises(DataverseError, match="empty"):
        list(client.records.fetch("leads", XML))


def test_leads_fetch_returns_models_with_link_columns(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        API + "leads",
        json={
            "value": [
                {
                    "leadid": lead_id(1),
                    "fullname": "Ann",
                    "statecode": 1,
                    "statecode" + FORMATTED: "Qualified",
                    "acc.name": "Alpha",
                }
            ]
        },
    )
    (lead,) = client.leads.fetch(XML)
    assert str(lead.id) == lead_id(1) and lead.fullname == "Ann"
    assert lead.formatted("statecode") == "Qualified"
    assert lead.extra["acc.name"] == "Alpha"


def test_a_cookie_that_does_not_advance_stops_the_loop(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    body = {
        "value": [{"leadid": lead_id(1)}],
        "@Microsoft.Dynamics.CRM.morerecords": True,
        "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie": annotation(1, COOKIE_PAGE_1),
    }
    rsps.get(API + "leads", json=body)
    rsps.get(API + "leads", json=body)
    with pytest.raises(DataverseError, match="paging cookie of the page before"):
        list(client.records.fetch("leads", XML))
    assert len(rsps.calls) == 2
