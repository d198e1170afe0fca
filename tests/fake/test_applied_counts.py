"""What the org applied per record (``/_fake/applied``): transitions, QualifyLead, keyed creates.

A resumed job that sends a state change again must be visible to the chaos verifier even
though the record reads the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from d365leads.fake import FakeDataverse
from d365leads.fake.org.applied import AppliedCounts


@pytest.fixture
def wire() -> Iterator[tuple[FakeDataverse, str, requests.Session]]:
    fake = FakeDataverse()
    with requests.Session() as session, fake.serve() as server:
        session.headers["Authorization"] = "Bearer applied-tests"
        yield fake, server.base_url, session
    assert fake.errors == []


def _applied(session: requests.Session, base: str, table: str = "lead") -> dict[str, object]:
    root = base.split("/api/")[0]
    response = session.get(f"{root}/_fake/applied?table={table}")
    assert response.status_code == 200
    data: dict[str, object] = response.json()
    return data


def _counts(session: requests.Session, base: str, lead: str) -> dict[str, int]:
    counts: dict[str, int] = _applied(session, base)["records"]["lead"][lead]  # type: ignore[index]
    return counts


def test_a_state_change_sent_twice_is_one_transition_and_one_no_op(
    wire: tuple[FakeDataverse, str, requests.Session],
) -> None:
    fake, base, session = wire
    (lead,) = fake.seed("lead", [{"lastname": "Ng", "statecode": 2, "statuscode": 6}])
    other = fake.seed("lead", [{"lastname": "Lee"}])[0]
    body = {"statecode": 0, "statuscode": 1}
    for _ in range(2):
        assert session.patch(f"{base}leads({lead})", json=body).status_code == 204
    session.patch(f"{base}leads({other})", json={"subject": "no state"})
    assert _applied(session, base) == {
        "records": {"lead": {lead: {"transition 2/6->0/1": 1, "unchanged 0/1": 1}}},
        "creates_by_key": {},
    }


def test_a_transition_applied_twice_is_counted_twice(
    wire: tuple[FakeDataverse, str, requests.Session],
) -> None:
    fake, base, session = wire
    (lead,) = fake.seed("lead", [{"lastname": "Ng"}])
    for body in ({"statecode": 2, "statuscode": 5}, {"statecode": 0, "statuscode": 1}) * 2:
        assert session.patch(f"{base}leads({lead})", json=body).status_code == 204
    assert _counts(session, base, lead) == {"transition 0/1->2/5": 2, "transition 2/5->0/1": 2}


def test_qualify_lead_and_a_refused_second_call(
    wire: tuple[FakeDataverse, str, requests.Session],
) -> None:
    fake, base, session = wire
    (lead,) = fake.seed("lead", [{"lastname": "Ng", "companyname": "Contoso"}])
    body = {"CreateAccount": True, "CreateContact": False, "CreateOpportunity": True, "Status": 3}
    first = session.post(f"{base}leads({lead})/Microsoft.Dynamics.CRM.QualifyLead", json=body)
    again = session.post(f"{base}leads({lead})/Microsoft.Dynamics.CRM.QualifyLead", json=body)
    assert first.status_code == 200 and again.status_code >= 400
    assert _counts(session, base, lead) == {"QualifyLead": 1, "transition 0/1->1/3": 1}


def test_creates_are_counted_per_alternate_key_value(
    wire: tuple[FakeDataverse, str, requests.Session],
) -> None:
    fake, base, session = wire
    fake.add_alternate_key("lead", "emailaddress1")
    key = "leads(emailaddress1='a@example.org')"
    assert session.patch(base + key, json={"lastname": "Ng"}).status_code == 204  # creates
    assert session.patch(base + key, json={"lastname": "Ng2"}).status_code == 204  # updates
    session.post(base + "leads", json={"lastname": "No key"})
    assert _applied(session, base)["creates_by_key"] == {"lead": {"emailaddress1=a@example.org": 1}}


def test_a_rolled_back_change_set_is_not_counted(
    wire: tuple[FakeDataverse, str, requests.Session],
) -> None:
    fake, _, _ = wire
    (lead,) = fake.seed("lead", [{"lastname": "Ng"}])
    before = fake.store.applied.copy()
    with fake.store.transaction():
        fake.store.applied.state_written("lead", lead, {"statecode": 0}, {"statecode": 2})
    try:
        with fake.store.transaction():
            fake.store.applied.qualified(lead)
            raise RuntimeError("the change set failed")
    except RuntimeError:
        pass
    assert before.to_json() == {"records": {}, "creates_by_key": {}}
    assert fake.store.applied.to_json()["records"] == {
        "lead": {lead: {"transition 0/None->2/None": 1}}
    }


def test_reset_forgets_the_counts(wire: tuple[FakeDataverse, str, requests.Session]) -> None:
    fake, base, session = wire
    (lead,) = fake.seed("lead", [{"lastname": "Ng"}])
    session.patch(f"{base}leads({lead})", json={"statecode": 2, "statuscode": 5})
    assert isinstance(fake.store.applied, AppliedCounts)
    assert _applied(session, base)["records"]
    assert session.post(base.split("/api/")[0] + "/_fake/reset").status_code == 204
    assert _applied(session, base) == {"records": {}, "creates_by_key": {}}
