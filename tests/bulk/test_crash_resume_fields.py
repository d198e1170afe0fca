"""Kill -9 a real ``d365leads bulk update`` / ``bulk assign`` mid-job, then resume it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from d365leads.fake import FakeDataverse, FakeServer

from .conftest import seed_leads
from .processes import cli_env
from .test_crash_resume import N, _kill_when, _resume, served

__all__ = ["served"]  # the fixture, shared with the crash tests

pytestmark = pytest.mark.slow

TEAM = "39e0dbe4-131b-e111-ba7e-78e7d1620f5e"


def _done_ids(journal: Path) -> set[str]:
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as db:
        return {row[0] for row in db.execute("SELECT lead_id FROM items WHERE status = 'done'")}


def _sent_after(fake: FakeDataverse, start: int, lead_ids: set[str]) -> set[str]:
    """Leads named in a write that reached the fake after the first ``start`` requests."""
    bodies = [r.body.decode() for r in fake.requests()[start:] if r.method in ("POST", "PATCH")]
    return {i for i in lead_ids if any(i in body for body in bodies)}


@pytest.mark.parametrize("kind", ["update", "assign"])
def test_field_job_killed_then_resumed(
    served: tuple[FakeDataverse, FakeServer], tmp_path: Path, kind: str
) -> None:
    fake, server = served
    fake.seed("team", [{"teamid": TEAM, "name": "Sales West", "teamtype": 0}])
    ids = seed_leads(fake, N, state=0, status=1, companyname="Picked")
    others = seed_leads(fake, 10, state=0, status=1, companyname="Left alone")
    journal = tmp_path / "jobs.sqlite"
    change = ["--set", "jobtitle=Buyer"] if kind == "update" else ["--owner", "Sales West"]
    args = [
        "--url", server.url, "bulk", kind, "--filter", "companyname eq 'Picked'", *change,
        "--yes", "--batch-size", "10", "--concurrency", "2", "--journal", str(journal),
    ]  # fmt: skip
    env = cli_env(tmp_path, "crash-test-token")
    at_kill = _kill_when(args, env, journal, lambda c: c["done"] >= N // 3)
    assert N // 3 <= at_kill["done"] < N
    done_at_kill = _done_ids(journal)
    seen = len(fake.requests())

    _resume(kind, server.url, env, journal)

    assert _done_ids(journal) == set(ids)
    for lead_id in ids:
        row = fake.get("lead", lead_id)
        assert row is not None
        assert row["jobtitle"] == "Buyer" if kind == "update" else row["owningteam"] == TEAM
    for lead_id in others:
        row = fake.get("lead", lead_id)
        assert row is not None and row.get("jobtitle") is None and row["owningteam"] is None
    # What the journal proved done before the kill is never sent again.
    assert _sent_after(fake, seen, done_at_kill) == set()
