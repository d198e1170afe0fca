"""Bulk update and bulk assign through the public API, against both adapters of the fake."""

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
from d365leads.models import Lookup

TEAM = "39e0dbe4-131b-e111-ba7e-78e7d1620f5e"


@pytest.fixture(params=["fake_dataverse", "fake_dataverse_server"])
def fake(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _seed(fake: Any, n: int, company: str = "Sel", **extra: Any) -> list[str]:
    rows = [{"lastname": f"L{i}", "companyname": company, **extra} for i in range(n)]
    return list(fake.seed("lead", rows))


def _run(client: Any, spec: JobSpec, selection: Selection, journal: Journal) -> Any:
    plan = plan_bulk_job(client.session, spec, selection, batch_size=10)
    job_id = create_bulk_job(client.session, journal, plan, selection)
    options = RunOptions(batch_size=10, max_batch_size=10, min_batch_size=5)
    return job_id, run_bulk_job(client.session, journal, job_id, options=options)


def _posts(fake: Any, suffix: str) -> list[Any]:
    return [r for r in fake.requests("POST") if r.path.endswith(suffix)]


def test_update_writes_the_selection_through_update_multiple(fake: Any, tmp_path: Path) -> None:
    selected = _seed(fake, 23)
    others = _seed(fake, 4, company="Other")
    client = fake.client()
    spec = update_spec(client.session, {"leadsourcecode": "Web", "description": "bulk note"})
    assert spec.body == {"description": "bulk note", "leadsourcecode": 8}

    with Journal(tmp_path / "jobs.sqlite") as journal:
        job_id, summary = _run(client, spec, Selection(filter="companyname eq 'Sel'"), journal)
        rows = report_rows(journal, job_id)

    assert summary.ok and summary.counts["done"] == 23
    for lead_id in selected:
        row = fake.get("lead", lead_id)
        assert (row["leadsourcecode"], row["description"]) == (8, "bulk note")
    for lead_id in others:
        assert fake.get("lead", lead_id).get("description") is None
    assert {r.path for r in rows} == {"UpdateMultiple"}
    assert len(_posts(fake, "UpdateMultiple")) == 3  # chunks of 10
    assert fake.requests("POST", "$batch") == []


def test_a_refused_chunk_is_resent_as_batch_and_names_the_path_per_record(
    fake: Any, tmp_path: Path
) -> None:
    open_ids = _seed(fake, 5)
    (closed,) = _seed(fake, 1, statecode=2, statuscode=6)
    client = fake.client()
    # Sent on purpose (planning leaves inactive leads out otherwise); the org refuses it.
    spec = update_spec(client.session, {"jobtitle": "Buyer"}, include_inactive=True)

    with Journal(tmp_path / "jobs.sqlite") as journal:
        job_id, summary = _run(client, spec, Selection(filter="companyname eq 'Sel'"), journal)
        rows = {r.id: r for r in report_rows(journal, job_id)}

    assert summary.counts["done"] == 5 and summary.counts["failed"] == 1
    assert rows[closed].outcome == "failed" and rows[closed].path == "$batch"
    assert "Reactivate" in rows[closed].message or "inactive" in rows[closed].message.lower()
    assert all(rows[i].outcome == "done" and rows[i].path == "$batch" for i in open_ids)
    assert [fake.get("lead", i)["jobtitle"] for i in open_ids] == ["Buyer"] * 5
    assert fake.get("lead", closed).get("jobtitle") is None
    assert len(_posts(fake, "UpdateMultiple")) == 1 and len(fake.requests("POST", "$batch")) == 1


class TestWithoutUpdateMultiple:
    @pytest.fixture
    def fake_dataverse_options(self) -> FakeOptions:
        return FakeOptions(bulk_message_tables=("account",))

    def test_update_falls_back_to_batch(self, fake: Any, tmp_path: Path) -> None:
        ids = _seed(fake, 12)
        client = fake.client()
        spec = update_spec(client.session, {"donotemail": "true"})
        with Journal(tmp_path / "jobs.sqlite") as journal:
            job_id, summary = _run(client, spec, Selection(ids=tuple(ids)), journal)
            paths = {r.path for r in report_rows(journal, job_id)}
        assert summary.ok and paths == {"$batch"}
        assert all(fake.get("lead", i)["donotemail"] is True for i in ids)
        assert _posts(fake, "UpdateMultiple") == []


def test_lookups_by_table_and_id_and_by_odata_bind(fake: Any, tmp_path: Path) -> None:
    (account,) = fake.seed("account", [{"name": "Fabrikam"}])
    (contact,) = fake.seed("contact", [{"lastname": "Lee"}])
    ids = _seed(fake, 3)
    client = fake.client()
    spec = update_spec(
        client.session,
        {
            "parentaccountid": f"account({account})",
            "customerid_contact@odata.bind": f"/contacts({contact})",
            "campaignid": None,
        },
    )
    assert spec.body["parentaccountid@odata.bind"] == f"/accounts({account})"
    with Journal(tmp_path / "jobs.sqlite") as journal:
        _, summary = _run(client, spec, Selection(ids=tuple(ids)), journal)
    assert summary.ok
    for lead_id in ids:
        row = fake.get("lead", lead_id)
        assert (row["parentaccountid"], row["customerid"], row["customeridtype"]) == (
            account,
            contact,
            "contact",
        )
    cleared = update_spec(client.session, {"jobtitle": "", "parentcontactid": ""})
    assert cleared.body == {"jobtitle": None, "parentcontactid@odata.bind": None}
    typed = JobSpec.update({"parentaccountid": Lookup.to("account", account)})
    assert typed.body == {"parentaccountid@odata.bind": f"/accounts({account})"}


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"statecode": 1}, "bulk reactivate"),
        ({"statuscode": 6}, "bulk disqualify"),
        ({"jobtitel": "x"}, "did you mean jobtitle"),
        ({"createdon": "2026-01-01"}, "lead.createdon is read-only"),
        ({"fullname": "x"}, "lead.fullname is read-only"),
        ({"leadsourcecode": "42"}, "no choice '42'"),
        ({"leadsourcecode": "Carrier pigeon"}, "no choice 'Carrier pigeon'"),
        ({"numberofemployees": "many"}, "lead.numberofemployees is a number"),
        ({"donotemail": "perhaps"}, "yes/no"),
        ({"parentaccountid": "contact(5b2c8a3e-0000-0000-0000-000000000001)"}, "points to account"),
        ({"parentaccountid": "account(not-a-guid)"}, "not a GUID"),
        ({"ownerid": None}, "always has an owner"),
        ({"owninguser": "systemuser(5b2c8a3e-0000-0000-0000-000000000001)"}, "set by Dataverse"),
    ],
)
def test_bad_values_name_the_column_before_anything_is_sent(
    fake_dataverse: Any, changes: dict[str, Any], words: str
) -> None:
    client = fake_dataverse.client()
    with pytest.raises(InvalidInputError, match=words.replace("(", r"\(")):
        update_spec(client.session, changes)
    assert fake_dataverse.requests("POST") == [] and fake_dataverse.requests("PATCH") == []


def test_assign_to_a_team_by_name_sets_owner_and_owning_team(fake: Any, tmp_path: Path) -> None:
    fake.seed("team", [{"teamid": TEAM, "name": "Sales West", "teamtype": 0}])
    ids = _seed(fake, 4)
    client = fake.client()
    spec = assign_spec(client.session, "sales west")
    assert spec.body == {"ownerid@odata.bind": f"/teams({TEAM})"}

    with Journal(tmp_path / "jobs.sqlite") as journal:
        _, summary = _run(client, spec, Selection(ids=tuple(ids)), journal)

    assert summary.ok
    for lead_id in ids:
        row = fake.get("lead", lead_id)
        assert (row["ownerid"], row["owneridtype"]) == (TEAM, "team")
        assert (row["owningteam"], row["owninguser"]) == (TEAM, None)
    page = client.session.get_json(
        "leads",
        params={"$select": "_ownerid_value", "$filter": f"leadid eq {ids[0]}"},
        headers={"Prefer": 'odata.include-annotations="*"'},
    )
    (read,) = page["value"]
    assert read["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"


def test_assign_to_a_user_by_domain_name_and_the_owner_errors(fake: Any) -> None:
    (user,) = fake.seed(
        "systemuser", [{"firstname": "Nia", "lastname": "Ode", "domainname": "nia@contoso.com"}]
    )
    fake.seed("team", [{"name": "Nia Ode", "teamtype": 0}, {"name": "Northwind", "teamtype": 0}])
    client = fake.client()

    spec = assign_spec(client.session, "nia@contoso.com")
    assert spec.body == {"ownerid@odata.bind": f"/systemusers({user})"}
    assert assign_spec(client.session, user.upper()).body == spec.body
    with pytest.raises(InvalidInputError, match="names 2 owners"):
        assign_spec(client.session, "Nia Ode")
    assert assign_spec(client.session, "Nia Ode", table="team").body["ownerid@odata.bind"]
    with pytest.raises(InvalidInputError, match="did you mean 'Northwind'"):
        assign_spec(client.session, "Nortwind")
    with pytest.raises(InvalidInputError, match="no user or team has the id"):
        assign_spec(client.session, "5b2c8a3e-0000-0000-0000-00000000beef")


def test_bypass_custom_logic_is_sent_with_every_write(fake: Any, tmp_path: Path) -> None:
    ids = _seed(fake, 3)
    (closed,) = _seed(fake, 1, statecode=2, statuscode=6)
    client = fake.client()
    spec = update_spec(
        client.session, {"jobtitle": "CTO"}, bypass_custom_logic=True, include_inactive=True
    )
    with Journal(tmp_path / "jobs.sqlite") as journal:
        _run(client, spec, Selection(ids=(*ids, closed)), journal)
    (multiple,) = _posts(fake, "UpdateMultiple")
    assert multiple.header("MSCRM.BypassBusinessLogicExecution") == "CustomSync,CustomAsync"
    (batch,) = fake.requests("POST", "$batch")
    assert batch.body.decode().count("MSCRM.BypassBusinessLogicExecution: CustomSync") == 4


def test_resume_resends_in_flight_items_but_never_what_the_journal_proves_done(
    fake: Any, tmp_path: Path
) -> None:
    ids = _seed(fake, 9)
    client = fake.client()
    spec = update_spec(client.session, {"jobtitle": "Resumed"})
    with Journal(tmp_path / "jobs.sqlite") as journal:
        selection = Selection(ids=tuple(ids))
        plan = plan_bulk_job(client.session, spec, selection)
        job_id = create_bulk_job(client.session, journal, plan, selection)
        # As a killed run leaves it: three proven done, three in flight (sent or not).
        journal.record(job_id, [ItemOutcome(i, "done", path="UpdateMultiple") for i in ids[:3]])
        journal.mark_inflight(job_id, ids[3:6])
        summary = run_bulk_job(client.session, journal, job_id)
        rows = {r.id: r for r in report_rows(journal, job_id)}

    assert summary.ok and summary.verified == 0
    body = "".join(r.body.decode() for r in _posts(fake, "UpdateMultiple"))
    assert all(i not in body for i in ids[:3]) and all(i in body for i in ids[3:])
    assert [fake.get("lead", i).get("jobtitle") for i in ids] == [None] * 3 + ["Resumed"] * 6
    assert all(rows[i].outcome == "done" for i in ids)


def test_an_access_team_cannot_own_the_leads(fake: Any, tmp_path: Path) -> None:
    (access,) = fake.seed("team", [{"name": "Deal room", "teamtype": 1}])
    ids = _seed(fake, 3)
    client = fake.client()
    spec = assign_spec(client.session, "Deal room")
    with Journal(tmp_path / "jobs.sqlite") as journal:
        job_id, summary = _run(client, spec, Selection(ids=tuple(ids)), journal)
        rows = report_rows(journal, job_id)
    assert summary.counts["failed"] == 3
    assert {(r.outcome, r.path) for r in rows} == {("failed", "$batch")}
    assert "only owner teams can own records" in rows[0].message
    assert all(fake.get("lead", i)["owningteam"] is None for i in ids)
    assert access not in {fake.get("lead", i)["ownerid"] for i in ids}
