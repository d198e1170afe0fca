"""FetchXML and saved views end to end: the public client against the fake, on both adapters
(the fake answers with its own FetchXML engine; no response is written by the test)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from d365leads import InvalidInputError
from d365leads.fake import FakeDataverse
from d365leads.fake.core.clock import ManualClock

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
CLOSED = "a8c48085-222b-5622-8fd5-133e1345b23a"
TENANT_CLOSED = (
    '<fetch version="1.0" mapping="logical"><entity name="lead"><attribute name="fullname"/>'
    '<attribute name="leadid"/><order attribute="modifiedon" descending="true"/>'
    '<filter type="and"><condition attribute="statecode" operator="ne" value="0"/>'
    '<condition attribute="modifiedon" operator="last-x-months" value="12"/>'
    "</filter></entity></fetch>"
)


@pytest.fixture(params=["inprocess", "server"])
def fake(request: pytest.FixtureRequest) -> Any:
    name = "fake_dataverse" if request.param == "inprocess" else "fake_dataverse_server"
    return request.getfixturevalue(name)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed_history(fake: FakeDataverse) -> dict[str, list[str]]:
    old = _iso(NOW - timedelta(days=700))
    recent = _iso(NOW - timedelta(days=30))
    other = fake.seed("systemuser", {"fullname": "Other", "domainname": "o@example.com"})[0]
    rows: dict[str, list[str]] = {}
    rows["old_closed"] = fake.seed(
        "lead",
        [
            {"lastname": f"Old{i}", "statecode": 2, "statuscode": 4, "modifiedon": old}
            for i in range(3)
        ],
    )
    rows["recent_closed"] = fake.seed(
        "lead",
        [
            {"lastname": f"New{i}", "statecode": 1, "statuscode": 3, "modifiedon": recent}
            for i in range(2)
        ],
    )
    rows["mine_open"] = fake.seed("lead", [{"lastname": "Mine", "statecode": 0, "statuscode": 1}])
    rows["other_open"] = fake.seed(
        "lead", [{"lastname": "Theirs", "statecode": 0, "statuscode": 1, "ownerid": other}]
    )
    return rows


def test_closed_and_my_open_run_the_orgs_views(fake: Any) -> None:
    rows = _seed_history(fake)
    client = fake.client()
    closed = {str(lead.id) for lead in client.leads.closed()}
    assert closed == set(rows["old_closed"] + rows["recent_closed"])
    mine = {str(lead.id) for lead in client.leads.my_open()}
    assert mine == set(rows["mine_open"])
    assert any("savedQuery=" + CLOSED in r.url for r in fake.requests("GET", "leads"))


def test_a_tenant_that_changed_closed_leads_gets_its_answer(fake: Any) -> None:
    fake.org.clock = ManualClock(NOW)
    rows = _seed_history(fake)
    client = fake.client()
    client.records.update("savedqueries", CLOSED, {"fetchxml": TENANT_CLOSED})
    closed = {str(lead.id) for lead in client.leads.closed()}
    assert closed == set(rows["recent_closed"])
    by_name = {str(lead.id) for lead in client.leads.view("closed leads")}
    assert by_name == closed


def test_views_list_and_unknown_names(fake: Any) -> None:
    fake.seed(
        "userquery",
        {
            "name": "Closed by me",
            "returnedtypecode": "lead",
            "querytype": 0,
            "fetchxml": TENANT_CLOSED,
        },
    )
    client = fake.client()
    views = client.views.list("lead")
    assert [v.name for v in views if not v.personal] == [
        "All Leads",
        "Closed Leads",
        "Leads Opened Last Week",
        "My Open Leads",
        "Open Leads",
    ]
    assert [v.name for v in views if v.personal] == ["Closed by me"]
    with pytest.raises(InvalidInputError, match="did you mean: 'Closed Leads'"):
        list(client.leads.view("Closed Lead"))


def test_twelve_thousand_rows_page_by_cookie_each_once(fake: Any) -> None:
    rng = random.Random(7)
    ids = fake.seed(
        "lead",
        [
            {"lastname": rng.choice(["Ann", "Bob", "Cy"]), "statecode": 0, "statuscode": 1}
            for _ in range(12_000)
        ],
    )
    client = fake.client()
    xml = (
        "<fetch><entity name='lead'><attribute name='lastname'/>"
        "<order attribute='lastname' descending='true'/></entity></fetch>"
    )
    before = len(fake.requests("GET", "leads"))
    seen = [row["leadid"] for row in client.records.fetch("leads", xml)]
    assert len(fake.requests("GET", "leads")) - before == 3  # pages of 5,000
    assert Counter(seen) == Counter(ids)
    names = [row["lastname"] for row in client.records.fetch("leads", xml, page_size=2500)]
    assert names == sorted(names, reverse=True) and len(names) == 12_000


def test_aggregates_match_an_independent_count(fake: Any) -> None:
    _seed_history(fake)
    client = fake.client()
    xml = (
        "<fetch aggregate='true'><entity name='lead'>"
        "<attribute name='leadid' alias='n' aggregate='count'/>"
        "<attribute name='statecode' alias='state' groupby='true'/></entity></fetch>"
    )
    got = {row["state"]: row["n"] for row in client.records.fetch("leads", xml)}
    assert got == dict(Counter(row["statecode"] for row in fake.rows("lead")))


def test_malformed_xml_is_refused_before_any_request(fake: Any) -> None:
    client = fake.client()
    client.whoami()
    sent = len(fake.journal)
    versions = fake.store.version
    with pytest.raises(InvalidInputError, match="line 2"):
        list(
            client.leads.fetch("<fetch>\n<entity name='lead'><attribute name='x'></entity></fetch>")
        )
    with pytest.raises(InvalidInputError):
        list(client.records.fetch("leads", "<fetch><entity name='account'/></fetch>"))
    assert len(fake.journal) == sent
    assert fake.store.version == versions
