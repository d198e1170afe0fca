"""Selection parsing, planning rules and the SQLite journal (no network)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from d365leads.bulk import (
    ItemOutcome,
    JobSpec,
    Journal,
    LeadSnapshot,
    Selection,
    build_filter,
    parse_age,
    plan_job,
    read_ids_file,
)
from d365leads.errors import BulkJobError, InvalidInputError, InvalidStatusError

A = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
B = "3f2504e0-4f89-11d3-9a0c-0305e82c3302"
C = "3f2504e0-4f89-11d3-9a0c-0305e82c3303"


def lead(lead_id: str, state: int, status: int, **kw: str | None) -> LeadSnapshot:
    return LeadSnapshot(
        lead_id=lead_id, name=f"Lead {lead_id[-1]}", statecode=state, statuscode=status, **kw
    )  # type: ignore[arg-type]


def test_read_ids_file_lines_and_csv(tmp_path: Path) -> None:
    lines = tmp_path / "ids.txt"
    lines.write_text(f"{A}\n\n{{{B.upper()}}}\n{A}\n")
    assert read_ids_file(lines) == [A, B]

    single = tmp_path / "single.csv"
    single.write_text(f"leadid\n{B}\n")
    assert read_ids_file(single) == [B]

    table = tmp_path / "ids.csv"
    table.write_text(f"name,Lead Id\nx,{A}\ny,{C}\n")
    assert read_ids_file(table, id_column="lead id") == [A, C]
    with pytest.raises(InvalidInputError, match="no 'leadid' or 'id' column"):
        read_ids_file(table)
    with pytest.raises(InvalidInputError, match="no column 'nope'"):
        read_ids_file(table, id_column="nope")

    bad = tmp_path / "bad.txt"
    bad.write_text(f"{A}\nnot-a-guid\n")
    with pytest.raises(InvalidInputError, match=r"bad.txt, line 2: 'not-a-guid' is not a GUID"):
        read_ids_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(InvalidInputError, match="holds no ids"):
        read_ids_file(empty)


def test_age_and_filter_shortcuts() -> None:
    assert parse_age("365d") == timedelta(days=365)
    assert parse_age("2w") == timedelta(weeks=2)
    assert parse_age("1y") == timedelta(days=365)
    with pytest.raises(InvalidInputError, match="48h, 30d"):
        parse_age("soon")
    now = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
    text = build_filter(
        filter="companyname ne null",
        statecode=2,
        statuscode=6,
        older_than=timedelta(days=30),
        now=now,
    )
    assert text == (
        "(companyname ne null) and statecode eq 2 and statuscode eq 6 "
        "and modifiedon lt 2026-01-01T12:00:00Z"
    )
    assert build_filter() is None
    with pytest.raises(InvalidInputError):
        build_filter(filter="  ")
    with pytest.raises(InvalidInputError):
        Selection()
    with pytest.raises(InvalidInputError):
        Selection(ids=())


def test_spec_refuses_status_of_another_state() -> None:
    with pytest.raises(InvalidStatusError, match="does not belong"):
        JobSpec.reactivate(6)
    with pytest.raises(InvalidStatusError):
        JobSpec.disqualify(1)
    assert JobSpec.disqualify(99).status == 99  # tenant-defined reasons pass through
    assert JobSpec.from_json(JobSpec.qualify(create_account=False).to_json()) == JobSpec.qualify(
        create_account=False
    )


def test_plan_rules_per_action() -> None:
    leads = [lead(A, 2, 6), lead(B, 0, 1), lead(C, 1, 3)]
    plan = plan_job(
        JobSpec.reactivate(), leads, missing_ids=["ffffffff-0000-0000-0000-000000000000"]
    )
    assert plan.transitions == {
        "Disqualified/No Longer Interested -> Open/New": 1,
        "Qualified/Qualified -> Open/New": 1,
    }
    assert plan.skipped == {"already open (target state)": 1, "not found": 1}
    assert plan.requests == 1

    plan = plan_job(JobSpec.disqualify(4), leads)
    assert [i.skip_reason is None for i in plan.items] == [False, True, False]
    assert "reactivate it before disqualifying" in (plan.items[2].skip_reason or "")

    nobody = lead("3f2504e0-4f89-11d3-9a0c-0305e82c3304", 0, 1)
    company = lead("3f2504e0-4f89-11d3-9a0c-0305e82c3305", 0, 2, companyname="Contoso")
    person = lead("3f2504e0-4f89-11d3-9a0c-0305e82c3306", 0, 1, lastname="Lee")
    plan = plan_job(JobSpec.qualify(), [*leads, nobody, company, person])
    reasons = [i.skip_reason for i in plan.items]
    assert reasons[0] and "closed lead" in reasons[0]
    assert reasons[1] and "no customer possible" in reasons[1]  # open, no name, no company
    assert reasons[2] == "already qualified (target state)"
    assert reasons[3] and "no customer possible" in reasons[3]
    assert reasons[4] is None and reasons[5] is None
    no_account = plan_job(JobSpec.qualify(create_account=False), [company, person])
    assert no_account.items[0].skip_reason is not None and no_account.items[1].skip_reason is None
    no_opp = plan_job(JobSpec.qualify(create_opportunity=False), [nobody])
    assert no_opp.items[0].skip_reason is None
    big = plan_job(
        JobSpec.reactivate(),
        [lead(f"{i:08d}-0000-0000-0000-000000000000", 2, 4) for i in range(250)],
        batch_size=100,
    )
    assert big.requests == 3
    assert big.estimate_seconds(round_trip_s=0.1, workers=2) == pytest.approx(2 * (0.1 + 1.5))


def test_journal_lifecycle_and_durability(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    plan = plan_job(JobSpec.reactivate(), [lead(A, 2, 6), lead(B, 0, 1), lead(C, 2, 4)])
    selection = Selection(ids=(A, B, C))
    with Journal(path) as journal:
        job_id = journal.create_job("https://org.crm.dynamics.com/", plan, selection)
        assert journal.counts(job_id) == {
            "pending": 2,
            "inflight": 0,
            "done": 0,
            "failed": 0,
            "skipped": 1,
        }
        journal.mark_inflight(job_id, [A, C])
        journal.record(
            job_id, [ItemOutcome(A, "done", http_status=204, after_state=0, after_status=1)]
        )
        assert journal.last_unfinished().job_id == job_id
    # A fresh connection (as after a crash) sees every commit.
    with Journal(path) as journal:
        info = journal.job(job_id)
        assert info.org_url == "https://org.crm.dynamics.com"
        assert info.selection == selection and info.spec == JobSpec.reactivate()
        rows = {r.lead_id: r for r in journal.items(job_id)}
        assert rows[A].status == "done" and rows[A].attempts == 1 and rows[A].after_state == 0
        assert rows[C].status == "inflight"
        assert rows[B].status == "skipped" and rows[B].skip_reason
        journal.set_state(job_id, "finished")
        with pytest.raises(BulkJobError, match="no unfinished job"):
            journal.last_unfinished()
        with pytest.raises(BulkJobError, match="no job 'nope'"):
            journal.job("nope")
        with pytest.raises(ValueError):
            journal.record(job_id, [ItemOutcome(A, "skipped")])
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_journal_refuses_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BulkJobError, match="cannot open the job journal"):
        Journal(path)
