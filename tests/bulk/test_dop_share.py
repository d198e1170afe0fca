"""Worker processes of one identity share its x-ms-dop-hint through the PostgreSQL journal."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from d365leads.auth import StaticTokenProvider
from d365leads.bulk import JobSpec, Selection, create_bulk_job, plan_bulk_job
from d365leads.bulk.dop_share import DopShare
from d365leads.bulk.journal_pg import PgJournal
from d365leads.bulk.journal_pg_share import DopSlots
from d365leads.client import DataverseClient
from d365leads.fake import FakeDataverse, FakeServer
from d365leads.fake.core.options import FakeOptions

from .conftest import CapsRecorder, make_client, seed_leads
from .pg_server import bulk_pg_server, pg_journal_url
from .processes import cli_env, serve_fake

__all__ = ["bulk_pg_server", "pg_journal_url"]

ORG = "https://org.example.com"


def _held(journal: PgJournal) -> dict[str, int]:
    with journal.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT worker, COUNT(*) FROM bulk_slots WHERE worker IS NOT NULL GROUP BY 1")
        ).all()
    return {str(worker): int(n) for worker, n in rows}


def test_slots_follow_the_live_workers_and_never_exceed_the_hint(pg_journal_url: str) -> None:
    with PgJournal(pg_journal_url) as journal:
        a, b, c = (DopSlots(journal.engine, ORG, "app", w, lease_s=60) for w in "abc")
        assert a.sync(4, keep=0) == (4, 4)  # alone: the whole hint
        assert b.sync(4, keep=0) == (0, 2)  # its share is 2, but a still holds every slot
        assert a.sync(4, keep=4) == (4, 2)  # a keeps what it may still have in flight
        assert a.sync(4, keep=2) == (2, 2)
        assert b.sync(4, keep=0) == (2, 2)
        assert _held(journal) == {"a": 2, "b": 2}
        assert c.sync(4, keep=0) == (0, 1)  # 4 over 3 workers: 2, 1, 1 in name order
        assert b.sync(4, keep=1) == (1, 1)
        assert c.sync(4, keep=0) == (1, 1)
        assert a.sync(4, keep=2) == (2, 2)
        assert sum(_held(journal).values()) == 4
        b.leave()
        assert a.sync(4, keep=2) == (2, 2)
        assert c.sync(4, keep=0) == (2, 2)
        # A worker whose lease ran out (killed) counts no more, and its slots are free.
        with journal.engine.begin() as conn:
            conn.execute(sa.text("UPDATE bulk_presence SET lease_until = 0 WHERE worker = 'c'"))
            conn.execute(sa.text("UPDATE bulk_slots SET lease_until = 0 WHERE worker = 'c'"))
        assert a.sync(4, keep=2) == (4, 4)
        assert _held(journal) == {"a": 4, "c": 0} or _held(journal) == {"a": 4}
        # Another identity has a hint of its own.
        other = DopSlots(journal.engine, ORG, "app-2", "a", lease_s=60)
        assert other.sync(2, keep=0) == (2, 2)
        assert a.known_hint() == 4 and other.known_hint() == 2


def test_a_worker_that_cannot_reach_the_journal_stops_sending_before_its_slots_expire(
    fake: FakeDataverse, pg_journal_url: str
) -> None:
    client = make_client(fake)
    client.session.get_json("WhoAmI")  # learns the hint, 4
    now = [100.0]
    runner = CapsRecorder()
    with PgJournal(pg_journal_url) as journal:
        share = DopShare(journal, client.session, "app", "w", lease_s=2, clock=lambda: now[0])
        share.attach(runner)
        share.sync()
        assert runner.caps[-1] == 4 and share.held == 4

        def move_presence(old: str, new: str) -> None:
            with journal.engine.begin() as conn:
                conn.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))

        move_presence("bulk_presence", "bulk_presence_away")  # every sync now fails
        now[0] += 0.5
        share.renew()
        assert runner.caps[-1] == 4 and share.held == 4  # a short gap: the slots are still its
        now[0] += 0.5  # half the slot lease since the last sync that went through
        share.renew()
        assert runner.caps[-1] == 0 and share.held == 0
        move_presence("bulk_presence_away", "bulk_presence")
        share.renew()
        assert runner.caps[-1] == 4 and share.held == 4
        share.stop()
        assert _held(journal) == {}
    client.close()


@pytest.fixture
def served() -> Iterator[tuple[FakeDataverse, FakeServer]]:
    # 100 ms per request, so the workers' requests overlap.
    yield from serve_fake(FakeOptions(dop_hint=4, latency_ms=100))


@pytest.mark.slow
def test_two_worker_processes_of_one_identity_stay_within_its_hint(
    served: tuple[FakeDataverse, FakeServer], pg_journal_url: str, tmp_path: Path
) -> None:
    fake, server = served
    n = 240
    ids = seed_leads(fake, n)
    selection = Selection(filter="statecode eq 2 and statuscode eq 6")
    client = DataverseClient(server.url, token_provider=StaticTokenProvider("planner"))
    with PgJournal(pg_journal_url, chunk_size=10) as journal:
        plan = plan_bulk_job(client.session, JobSpec.reactivate(), selection, batch_size=5)
        job_id = create_bulk_job(client.session, journal, plan, selection)
    client.close()
    planner_key = set(fake.protection.stats.peak_by_caller)
    env = cli_env(tmp_path, "worker-token")
    command = [
        sys.executable, "-m", "d365leads", "-o", "json", "--url", server.url, "bulk", "worker",
        "--job", job_id, "--journal", pg_journal_url, "--batch-size", "5",
        "--lease", "5",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err.decode()
            outputs.append(json.loads(out.decode()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert all(fake.get("lead", i)["statecode"] == 0 for i in ids)
    peaks = {k: v for k, v in fake.protection.stats.peak_by_caller.items() if k not in planner_key}
    (worker_peak,) = peaks.values()  # both processes send as the one identity
    assert worker_peak <= 4
    assert all(out["requests"] > 0 for out in outputs)  # both did part of the job
    with PgJournal(pg_journal_url) as journal:
        assert journal.counts(job_id)["done"] == n
        assert _held(journal) == {}  # every slot given back
