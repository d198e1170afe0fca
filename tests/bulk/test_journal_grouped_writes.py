"""Chunk writes of the journals: one statement per distinct outcome, same result as one per item.

``mark_inflight`` and ``record`` write a whole chunk in one transaction; outcomes that write the
same values share one ``UPDATE … IN (…)``.  These tests hold the result to what one statement
per item gives: mixed outcomes, chunks larger than one statement's parameter bound, and a lead
listed twice in one ``record`` (its outcomes apply in list order).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from d365leads.bulk import ItemOutcome, JobSpec, Journal, Plan, PlannedItem, Selection
from d365leads.bulk.journal_protocol import JobJournal
from d365leads.bulk.journal_url import open_journal

from .pg_server import bulk_pg_server, pg_journal_url

__all__ = ["bulk_pg_server", "pg_journal_url"]

ORG = "https://org.crm.dynamics.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobJournal]:
    if request.param == "sqlite":
        with Journal(tmp_path / "jobs.sqlite") as opened:
            yield opened
    else:
        url = request.getfixturevalue("pg_journal_url")
        with open_journal(url) as opened:  # type: ignore[attr-defined]
            yield opened


def _job(journal: JobJournal, n: int) -> tuple[str, list[str]]:
    ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    plan = Plan(
        JobSpec.reactivate(), [PlannedItem(i, f"Lead {k}", 2, 6, 0, 1) for k, i in enumerate(ids)]
    )
    return journal.create_job(ORG, plan, Selection(ids=tuple(ids))), ids


def test_a_large_chunk_with_mixed_outcomes(journal: JobJournal) -> None:
    job_id, ids = _job(journal, 1203)
    journal.mark_inflight(job_id, ids, identity="worker-a")
    outcomes = [
        ItemOutcome(i, "done", http_status=204, after_state=0, after_status=1)
        if k % 3 == 0
        else ItemOutcome(i, "failed", http_status=400, error_code="0x1", error_message=f"no {k}")
        if k % 3 == 1
        else ItemOutcome(i, "pending")
        for k, i in enumerate(ids)
    ]
    journal.record(job_id, outcomes)

    rows = {r.lead_id: r for r in journal.items(job_id)}
    assert len(rows) == 1203
    for k, lead_id in enumerate(ids):
        row = rows[lead_id]
        assert row.attempts == 1
        if k % 3 == 0:
            assert (row.status, row.http_status, row.after_state, row.after_status) == (
                "done",
                204,
                0,
                1,
            )
        elif k % 3 == 1:
            assert (row.status, row.error_code, row.error_message) == ("failed", "0x1", f"no {k}")
        else:
            assert (row.status, row.http_status, row.after_state) == ("pending", None, None)
    assert journal.counts_by_identity(job_id) == {
        "worker-a": {"pending": 401, "inflight": 0, "done": 401, "failed": 401, "skipped": 0}
    }


def test_a_lead_listed_twice_is_written_twice_in_order(journal: JobJournal) -> None:
    job_id, ids = _job(journal, 3)
    journal.mark_inflight(job_id, [ids[0], ids[1]])
    journal.record(
        job_id,
        [
            ItemOutcome(ids[0], "pending"),
            ItemOutcome(ids[1], "done", http_status=204, after_state=0, after_status=1),
            ItemOutcome(ids[0], "done", http_status=204, after_state=0, after_status=1),
        ],
    )

    rows = {r.lead_id: r for r in journal.items(job_id)}
    assert (rows[ids[0]].status, rows[ids[0]].attempts) == ("done", 1)
    assert (rows[ids[1]].status, rows[ids[1]].attempts) == ("done", 1)
    assert (rows[ids[2]].status, rows[ids[2]].attempts) == ("pending", 0)


def test_a_later_outcome_keeps_the_state_an_earlier_one_read(journal: JobJournal) -> None:
    job_id, ids = _job(journal, 2)
    journal.record(job_id, [ItemOutcome(i, "failed", after_state=2, after_status=6) for i in ids])
    journal.record(job_id, [ItemOutcome(i, "pending") for i in ids])

    assert [(r.status, r.after_state, r.after_status) for r in journal.items(job_id)] == [
        ("pending", 2, 6),
        ("pending", 2, 6),
    ]
