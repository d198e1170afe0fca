"""The fake's demo data: deterministic, realistic and consistent with the lifecycle rules."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from d365leads.fake import FakeDataverse, ManualClock
from d365leads.fake.org.demo_data import DEFAULT_NOW, demo_rows


def test_demo_rows_are_deterministic_per_seed() -> None:
    assert demo_rows(7) == demo_rows(7)
    assert demo_rows(7) != demo_rows(8)


def test_demo_leads_cover_every_state_reason_and_two_years() -> None:
    rows = demo_rows(7, caller_id="00000000-0000-0000-0000-0000000000aa")
    leads = rows["lead"]
    assert len(leads) == 300
    pairs = Counter((lead["statecode"], lead["statuscode"]) for lead in leads)
    for pair in [(0, 1), (0, 2), (1, 3), (2, 4), (2, 5), (2, 6), (2, 7)]:
        assert pairs[pair] >= 5, pair
    created = sorted(
        datetime.fromisoformat(lead["createdon"].replace("Z", "+00:00")) for lead in leads
    )
    assert created[0] < DEFAULT_NOW - timedelta(days=600)
    assert created[-1] > DEFAULT_NOW - timedelta(days=100)
    year_ago = DEFAULT_NOW - timedelta(days=365)
    old_not_interested = [
        lead
        for lead in leads
        if lead["statuscode"] == 6
        and datetime.fromisoformat(lead["createdon"].replace("Z", "+00:00")) < year_ago
    ]
    assert len(old_not_interested) >= 5
    owners = Counter(lead["ownerid"] for lead in leads)
    assert len(owners) == 5 and owners["00000000-0000-0000-0000-0000000000aa"] > 0


def test_qualified_leads_are_linked_like_qualification_does() -> None:
    rows = demo_rows(3)
    opportunities = {o["opportunityid"]: o for o in rows["opportunity"]}
    accounts = {a["accountid"]: a for a in rows["account"]}
    contacts = {c["contactid"]: c for c in rows["contact"]}
    qualified = [lead for lead in rows["lead"] if lead["statecode"] == 1]
    assert qualified
    for lead in qualified:
        opportunity = opportunities[lead["qualifyingopportunityid"]]
        assert opportunity["originatingleadid"] == lead["leadid"]
        customers = accounts if opportunity["customeridtype"] == "account" else contacts
        assert opportunity["customerid"] in customers
        made = [c for c in contacts.values() if c.get("originatingleadid") == lead["leadid"]]
        assert len(made) == 1 and made[0]["lastname"] == lead["lastname"]
    closed = [o for o in opportunities.values() if o["statecode"] != 0]
    closes = {c["opportunityid"] for c in rows["opportunityclose"]}
    assert closed and {o["opportunityid"] for o in closed} == closes
    assert any("parentcustomerid" not in c for c in contacts.values())
    assert any(c.get("parentcustomerid") in accounts for c in contacts.values())


def test_seed_demo_data_into_a_fake_relative_to_its_clock() -> None:
    now = datetime(2027, 3, 1, tzinfo=timezone.utc)
    fake = FakeDataverse(clock=ManualClock(now))
    ids = fake.seed_demo_data()
    assert len(ids["lead"]) == 300
    mine = fake.rows("lead", statecode=0, ownerid=fake.caller_id)
    assert mine
    newest = max(lead["createdon"] for lead in fake.rows("lead"))
    assert "2026-06-01T00:00:00Z" < newest < "2027-03-01T00:00:00Z"
    assert fake.errors == []
