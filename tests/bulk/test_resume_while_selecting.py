"""A bulk job is in the journal before it reads a lead: a kill while planning resumes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from d365leads.bulk import JobSpec, Journal, Selection, plan_bulk_job
from d365leads.errors import BulkJobError
from d365leads.fake import FakeDataverse, FakeServer
from d365leads.fake.core.options import FakeOptions

from .conftest import make_client, seed_leads
from .processes import cli_env, serve_fake

N = 60


@pytest.fixture
def served() -> Iterator[tuple[FakeDataverse, FakeServer]]:
    yield from serve_fake(FakeOptions(dop_hint=2))


def _job_states(journal: Path) -> list[tuple[str, int]]:
    if not journal.exists():
        return []
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as db:
            return list(db.execute("SELECT state, total FROM jobs"))
    except sqlite3.OperationalError:
        return []


@pytest.mark.slow
def test_kill_while_reading_the_selection_then_resume_last(
    served: tuple[FakeDataverse, FakeServer], tmp_path: Path
) -> None:
    fake, server = served
    ids = seed_leads(fake, N)
    # The selection read is throttled for a long time: the process is killed while it waits.
    fake.faults.throttle_next(1, retry_after=60, method="GET", path=r"^leads$")
    journal = tmp_path / "jobs.sqlite"
    env = cli_env(tmp_path, "t")
    base = [sys.executable, "-m", "d365leads", "--url", server.url, "bulk", "reactivate"]
    proc = subprocess.Popen(
        [*base, "--reason", "no-longer-interested", "--yes", "--journal", str(journal)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not fake.faults.fired and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake.faults.fired, "the selection was never read"
        assert _job_states(journal) == [("selecting", 0)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert all(fake.get("lead", i)["statecode"] == 2 for i in ids)  # type: ignore[index]
    done = subprocess.run(
        [*base, "--resume-last", "--yes", "--journal", str(journal)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert _job_states(journal) == [("finished", N)]
    assert all(fake.get("lead", i)["statecode"] == 0 for i in ids)  # type: ignore[index]


def test_open_job_then_items_under_the_same_id(fake: FakeDataverse, tmp_path: Path) -> None:
    client = make_client(fake)
    seed_leads(fake, 3)
    spec, selection = JobSpec.reactivate(), Selection(filter="statecode eq 2")
    with Journal(tmp_path / "j.sqlite") as journal:
        job_id = journal.open_job(client.session.org_url, spec, selection)
        assert journal.last_unfinished().job_id == job_id
        assert journal.last_unfinished().state == "selecting"
        plan = plan_bulk_job(client.session, spec, selection)
        assert journal.create_job(client.session.org_url, plan, selection, job_id=job_id) == job_id
        info = journal.job(job_id)
        assert (info.state, info.total) == ("planned", 3)
        assert Counter(i.status for i in journal.items(job_id)) == Counter({"pending": 3})
        with pytest.raises(BulkJobError, match="not waiting for its selection"):
            journal.create_job(client.session.org_url, plan, selection, job_id=job_id)


def test_discarded_job_is_gone(fake: FakeDataverse, tmp_path: Path) -> None:
    client = make_client(fake)
    with Journal(tmp_path / "j.sqlite") as journal:
        job_id = journal.open_job(
            client.session.org_url, JobSpec.reactivate(), Selection(filter="statecode eq 2")
        )
        journal.discard_job(job_id)
        assert journal.jobs() == []
