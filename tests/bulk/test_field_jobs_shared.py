"""Bulk update/assign on the shared PostgreSQL journal and with several identities."""

from __future__ import annotations

import threading
from pathlib import Path

from d365leads.bulk import (
    Journal,
    RunOptions,
    Selection,
    assign_spec,
    create_bulk_job,
    plan_bulk_job,
    report_rows,
    update_spec,
)
from d365leads.bulk.identities import Identity, run_bulk_job_as
from d365leads.bulk.journal_pg import PgJournal
from d365leads.bulk.worker import run_worker
from d365leads.fake import FakeDataverse

from .conftest import make_client, seed_leads
from .pg_server import bulk_pg_server, pg_journal_url

__all__ = ["bulk_pg_server", "pg_journal_url"]

OPTIONS = RunOptions(batch_size=10, max_batch_size=10, min_batch_size=5)


def test_two_workers_update_one_job_on_postgresql(fake: FakeDataverse, pg_journal_url: str) -> None:
    ids = seed_leads(fake, 120, state=0, status=1)
    client = make_client(fake)
    spec = update_spec(client.session, {"jobtitle": "Shared", "leadsourcecode": 8})
    selection = Selection(ids=tuple(ids))
    with PgJournal(pg_journal_url, chunk_size=20) as journal:
        plan = plan_bulk_job(client.session, spec, selection)
        job_id = create_bulk_job(client.session, journal, plan, selection)
        assert journal.job(job_id).spec == spec  # the changes survive the round trip

        def work(name: str) -> None:
            session = make_client(fake).session
            run_worker([Identity(name, session)], journal, job_id, options=OPTIONS,
                       lease_s=30, poll_s=0.05, name=name)  # fmt: skip

        threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert journal.job(job_id).state == "finished"
        rows = report_rows(journal, job_id)
    assert {(r.outcome, r.path) for r in rows} == {("done", "UpdateMultiple")}
    assert all(fake.get("lead", i)["jobtitle"] == "Shared" for i in ids)  # type: ignore[index]
    sent = "".join(r.body.decode() for r in fake.requests("POST") if "UpdateMultiple" in r.path)
    assert all(sent.count(i) == 1 for i in ids)


def test_assign_as_two_identities(fake: FakeDataverse, tmp_path: Path) -> None:
    (team,) = fake.seed("team", [{"name": "Sales West", "teamtype": 0}])
    ids = seed_leads(fake, 60, state=0, status=1)
    clients = [make_client(fake) for _ in range(2)]
    spec = assign_spec(clients[0].session, "Sales West")
    selection = Selection(ids=tuple(ids))
    with Journal(tmp_path / "jobs.sqlite") as journal:
        plan = plan_bulk_job(clients[0].session, spec, selection)
        job_id = create_bulk_job(clients[0].session, journal, plan, selection)
        result = run_bulk_job_as(
            [Identity(f"app-{n}", c.session) for n, c in enumerate(clients)],
            journal,
            job_id,
            options=OPTIONS,
        )
    assert result.ok and result.counts["done"] == 60
    assert all(fake.get("lead", i)["owningteam"] == team for i in ids)  # type: ignore[index]
