"""Field jobs plan what they will do: inactive leads and unchanged leads are left out up front.

Through the public API against both adapters of the fake (in-process and served over HTTP).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from d365leads.bulk import (
    JobSpec,
    Journal,
    RunOptions,
    Selection,
    assign_spec,
    create_bulk_job,
    plan_bulk_job,
    report_rows,
    run_bulk_job,
    update_spec,
)
from d365leads.bulk.journal import ItemOutcome
from d365leads.errors import InvalidInputError
from d365leads.fake import FakeOptions

TEAM = "39e0dbe4-131b-e111-ba7e-78e7d1620f5e"
DISQUALIFIED = "inactive (disqualified): reactivate it first, or pass --include-inactive"
QUALIFIED = "inactive (qualified): reactivate it first, or pass --include-inactive"


@pytest.fixture(params=["fake_dataverse", "fake_dataverse_server"])
def fake(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _seed(fake: Any, n: int, **extra: Any) -> list[str]:
    rows = [{"lastname": f"L{i}", "companyname": "Sel", **extra} for i in range(n)]
    return list(fake.seed("lead", rows))


def _mixed(fake: Any) -> tuple[list[str], str, str]:
    open_ids = _seed(fake, 4)
    (disqualified,) = _seed(fake, 1, statecode=2, statuscode=6)
    (qualified,) = _seed(fake, 1, statecode=1, statuscode=3)
    return open_ids, disqualified, qualified


def _run(client: Any, spec: JobSpec, selection: Selection, journal: Journal) -> Any:
    plan = plan_bulk_job(client.session, spec, selection, batch_size=10)
    job_id = create_bulk_job(client.session, journal, plan, selection)
    options = RunOptions(batch_size=10, max_batch_size=10, min_batch_size=5)
    return plan, job_id, run_bulk_job(client.session, journal, job_id, options=options)


def _sent(fake: Any) -> str:
    """Every write body the fake received (UpdateMultiple, $batch and PATCH)."""
    writes = [*fake.requests("POST"), *fake.requests("PATCH")]
    return "".join(r.body.decode() + r.path for r in writes)


SEL = Selection(filter="companyname eq 'Sel'")


def test_inactive_leads_are_left_out_at_planning_with_a_reason(fake: Any, tmp_path: Path) -> None:
    open_ids, disqualified, qualified = _mixed(fake)
    client = fake.client()
    spec = update_spec(client.session, {"jobtitle": "Buyer"})

    with Journal(tmp_path / "jobs.sqlite") as journal:
        plan, job_id, summary = _run(client, spec, SEL, journal)
        rows = {r.id: r for r in report_rows(journal, job_id)}

    assert plan.summary()["to_write"] == 4 and plan.requests == 1
    assert plan.summary()["skipped"] == {DISQUALIFIED: 1, QUALIFIED: 1}
    assert summary.ok and summary.counts == {
        "pending": 0,
        "inflight": 0,
        "done": 4,
        "failed": 0,
        "skipped": 2,
    }
    assert (rows[disqualified].outcome, rows[disqualified].message) == ("skipped", DISQUALIFIED)
    assert (rows[qualified].outcome, rows[qualified].message) == ("skipped", QUALIFIED)
    sent = _sent(fake)
    assert disqualified not in sent and qualified not in sent  # one UpdateMultiple, no fallback
    assert fake.requests("POST", "$batch") == []
    assert [fake.get("lead", i)["jobtitle"] for i in open_ids] == ["Buyer"] * 4
    assert fake.get("lead", disqualified).get("jobtitle") is None


def test_include_inactive_sends_them_and_the_org_refuses_each(fake: Any, tmp_path: Path) -> None:
    _, disqualified, qualified = _mixed(fake)
    client = fake.client()
    spec = update_spec(client.session, {"jobtitle": "Buyer"}, include_inactive=True)

    with Journal(tmp_path / "jobs.sqlite") as journal:
        plan, job_id, summary = _run(client, spec, SEL, journal)
        rows = {r.id: r for r in report_rows(journal, job_id)}

    assert plan.summary()["to_write"] == 6 and plan.skipped == {}
    assert summary.counts["done"] == 4 and summary.counts["failed"] == 2
    for lead_id in (disqualified, qualified):
        assert (rows[lead_id].outcome, rows[lead_id].path) == ("failed", "$batch")
        assert fake.get("lead", lead_id).get("jobtitle") is None


class TestOrgThatAllowsInactiveEdits:
    @pytest.fixture
    def fake_dataverse_options(self) -> FakeOptions:
        return FakeOptions(enforce_inactive_edit_rule=False)

    def test_include_inactive_writes_them(self, fake: Any, tmp_path: Path) -> None:
        open_ids, disqualified, qualified = _mixed(fake)
        client = fake.client()
        spec = assign_spec(client.session, TEAM, table="team", include_inactive=True)
        with Journal(tmp_path / "jobs.sqlite") as journal:
            _, _, summary = _run(client, spec, SEL, journal)
        assert summary.ok and summary.counts["done"] == 6
        for lead_id in (*open_ids, disqualified, qualified):
            assert fake.get("lead", lead_id)["ownerid"] == TEAM
        assert fake.get("lead", disqualified)["statecode"] == 2  # the state is left alone

    def test_without_it_they_are_still_left_out(self, fake: Any, tmp_path: Path) -> None:
        _, disqualified, _ = _mixed(fake)
        client = fake.client()
        spec = assign_spec(client.session, TEAM, table="team")
        with Journal(tmp_path / "jobs.sqlite") as journal:
            plan, _, summary = _run(client, spec, SEL, journal)
        assert plan.summary()["skipped"] == {DISQUALIFIED: 1, QUALIFIED: 1}
        assert summary.counts["done"] == 4 and disqualified not in _sent(fake)
        assert fake.get("lead", disqualified)["ownerid"] != TEAM

    @pytest.fixture(autouse=True)
    def _team(self, fake: Any) -> None:
        fake.seed("team", [{"teamid": TEAM, "name": "Sales West", "teamtype": 0}])


def test_leads_holding_every_new_value_are_reported_unchanged(fake: Any, tmp_path: Path) -> None:
    (account,) = fake.seed("account", [{"name": "Fabrikam"}])
    holding = _seed(fake, 2, jobtitle="Buyer", leadsourcecode=8, parentaccountid=account)
    partly = _seed(fake, 2, jobtitle="Buyer", leadsourcecode=8)  # the account differs
    (closed_holding,) = _seed(
        fake, 1, statecode=2, statuscode=6, jobtitle="Buyer", leadsourcecode=8,
        parentaccountid=account,
    )  # fmt: skip
    fresh = _seed(fake, 3)
    client = fake.client()
    changes = {
        "jobtitle": "Buyer",
        "leadsourcecode": "Web",
        "parentaccountid": f"account({account})",
    }
    spec = update_spec(client.session, changes)
    before = {i: fake.get("lead", i)["modifiedon"] for i in holding}

    with Journal(tmp_path / "jobs.sqlite") as journal:
        plan, job_id, summary = _run(client, spec, SEL, journal)
        rows = {r.id: r for r in report_rows(journal, job_id)}

    unchanged = "unchanged: already holds every new value"
    assert plan.summary()["skipped"] == {unchanged: 3}  # unchanged wins over inactive
    assert summary.ok and summary.counts["done"] == 5 and summary.counts["skipped"] == 3
    assert {rows[i].message for i in (*holding, closed_holding)} == {unchanged}
    sent = _sent(fake)
    assert all(i not in sent for i in holding) and all(i in sent for i in (*partly, *fresh))
    assert {i: fake.get("lead", i)["modifiedon"] for i in holding} == before
    for lead_id in (*partly, *fresh):
        row = fake.get("lead", lead_id)
        assert (row["jobtitle"], row["leadsourcecode"], row["parentaccountid"]) == (
            "Buyer",
            8,
            account,
        )


def test_clearing_a_column_skips_the_leads_where_it_is_empty(fake: Any, tmp_path: Path) -> None:
    empty = _seed(fake, 2)
    filled = _seed(fake, 2, jobtitle="Buyer")
    client = fake.client()
    spec = update_spec(client.session, {"jobtitle": ""})
    with Journal(tmp_path / "jobs.sqlite") as journal:
        plan, _, summary = _run(client, spec, SEL, journal)
    assert {i.lead_id for i in plan.to_write} == set(filled)
    assert summary.counts["skipped"] == 2 and all(i not in _sent(fake) for i in empty)
    assert all(fake.get("lead", i).get("jobtitle") is None for i in filled)


def test_assign_leaves_out_the_leads_the_owner_already_has(fake: Any, tmp_path: Path) -> None:
    fake.seed("team", [{"teamid": TEAM, "name": "Sales West", "teamtype": 0}])
    ids = _seed(fake, 5)
    client = fake.client()
    spec = assign_spec(client.session, "Sales West")
    with Journal(tmp_path / "jobs.sqlite") as journal:
        _run(client, spec, Selection(ids=tuple(ids[:2])), journal)
        plan, _, summary = _run(client, spec, Selection(ids=tuple(ids)), journal)
    assert plan.summary()["skipped"] == {"unchanged: already has this owner": 2}
    assert summary.counts["done"] == 3
    assert all(fake.get("lead", i)["ownerid"] == TEAM for i in ids)


def test_resume_keeps_the_plan_and_never_sends_skipped_leads(fake: Any, tmp_path: Path) -> None:
    open_ids, disqualified, qualified = _mixed(fake)
    (holding,) = _seed(fake, 1, jobtitle="Resumed")
    client = fake.client()
    spec = update_spec(client.session, {"jobtitle": "Resumed"})
    with Journal(tmp_path / "jobs.sqlite") as journal:
        plan = plan_bulk_job(client.session, spec, SEL)
        job_id = create_bulk_job(client.session, journal, plan, SEL)
        # As a killed run leaves it: one proven done, two in flight.
        journal.record(job_id, [ItemOutcome(open_ids[0], "done", path="UpdateMultiple")])
        journal.mark_inflight(job_id, open_ids[1:3])
        # The org changes meanwhile: the plan, frozen in the journal, does not.
        client.leads.reactivate(disqualified)
        summary = run_bulk_job(client.session, journal, job_id)
        counts = summary.counts
    assert counts["done"] == 4 and counts["skipped"] == 3 and counts["failed"] == 0
    sent = "".join(r.body.decode() for r in fake.requests("POST"))  # the job's writes
    assert all(i not in sent for i in (open_ids[0], disqualified, qualified, holding))
    assert all(i in sent for i in open_ids[1:])


def test_include_inactive_is_part_of_the_journalled_spec() -> None:
    spec = JobSpec.update({"jobtitle": "x"}, include_inactive=True)
    assert JobSpec.from_json(spec.to_json()) == spec
    plain = JobSpec.update({"jobtitle": "x"})
    assert "include_inactive" not in plain.to_json()  # digests of older jobs are unchanged
    assert plain.digest() != spec.digest()
    with pytest.raises(InvalidInputError, match="only applies to update and assign"):
        JobSpec(JobSpec.reactivate().action, 1, include_inactive=True)
