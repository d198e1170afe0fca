"""The page writer: pages commit on one thread, in order; a failed commit stops the pull whole."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from d365leads.client import DataverseClient
from d365leads.errors import SyncError
from d365leads.fake import FakeDataverse
from d365leads.sync import SyncTarget, pull
from d365leads.sync.pull.page_writer import PageWriter, page_writer
from d365leads.sync.state import load_position
from d365leads.sync.status import sync_status


def test_jobs_run_one_at_a_time_in_submission_order() -> None:
    ran: list[int] = []
    active = [0, 0]  # now, most at once
    lock = threading.Lock()

    def job(n: int) -> None:
        with lock:
            active[0] += 1
            active[1] = max(active)
        ran.append(n)
        with lock:
            active[0] -= 1

    with page_writer(True) as submit:
        for n in range(50):
            submit(lambda n=n: job(n))  # type: ignore[misc]
    assert ran == list(range(50))
    assert active[1] == 1


def test_after_a_failed_job_no_later_job_runs_and_the_failure_is_raised() -> None:
    ran: list[int] = []
    gate = threading.Event()

    def fail() -> None:
        gate.wait(5)
        raise OSError("disk full")

    writer = PageWriter()
    try:
        writer.submit(lambda: ran.append(1))
        writer.submit(fail)
        # Job 3 is queued before job 2 fails: it must be skipped, not run after the failure.
        submitted = threading.Thread(target=writer.submit, args=(lambda: ran.append(3),))
        submitted.start()
        gate.set()
        submitted.join(5)
        with pytest.raises(OSError, match="disk full"):
            writer.drain()
        with pytest.raises(OSError, match="disk full"):
            writer.submit(lambda: ran.append(4))
    finally:
        writer.close()
    assert ran == [1]


def test_the_writers_failure_wins_over_the_pass_error_and_pending_pages_commit() -> None:
    ran: list[str] = []
    with pytest.raises(KeyError), page_writer(True) as submit:
        submit(lambda: ran.append("page 1"))
        raise KeyError("next page")
    assert ran == ["page 1"]  # the page handed over before the error still committed

    gate = threading.Event()

    def fail() -> None:
        gate.wait(5)  # fails only once page 2 is queued behind it
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full") as caught, page_writer(True) as submit:
        submit(fail)
        submit(lambda: ran.append("page 2"))
        gate.set()
        raise KeyError("next page")
    assert ran == ["page 1"]
    assert isinstance(caught.value.__context__, KeyError)


def _seed(fake: FakeDataverse, n: int) -> list[str]:
    return fake.seed("lead", [{"subject": f"Lead {i}", "lastname": f"L{i}"} for i in range(n)])


class _FailingWriteTarget(SyncTarget):
    """A real SQLite target whose n-th page write fails as a database error does, recording
    the thread each page was written on."""

    def __init__(self, url: str, fail_on: int) -> None:
        super().__init__(url)
        self.calls = 0
        self.fail_on = fail_on
        self.threads: list[str] = []

    def upsert(self, conn: Any, table: Any, rows: Sequence[Any]) -> int:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        written = super().upsert(conn, table, rows)
        if self.calls == self.fail_on:
            raise OperationalError("INSERT", {}, Exception("database or disk is full"))
        return written


def test_a_failed_page_write_stops_the_pull_and_loses_or_repeats_nothing(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Any
) -> None:
    ids = _seed(fake, 50)
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    failing = _FailingWriteTarget(url, fail_on=3)
    with failing, pytest.raises(SyncError, match="database or disk is full"):
        pull(client.session, failing, ["lead"], page_size=10)  # read-ahead and writer on
    # Pages were written on the writer thread, and none after the failed one.
    assert failing.threads == ["d365leads-sync-writer"] * 3
    with SyncTarget(url) as target:
        assert target.count("lead") == (20, 0)
        with target.connect() as conn:
            pos = load_position(conn, "lead")
        assert pos is not None and pos.phase == "full" and pos.pass_rows == 20
        page_links = [r.url for r in fake.requests("GET", "leads")]
        assert pos.next_link == page_links[2]  # page 3's link: its rows were not stored
        [failed] = sync_status(target)
        assert "SyncError" in (failed.last_error or "")
        result = pull(client.session, target, ["lead"], page_size=10)
        [lead] = result.tables
        assert lead.resumed and lead.upserted == 30
        assert target.count("lead") == (50, 0)
        table = target.existing_table("lead")
        assert table is not None
        with target.connect() as conn:
            stored = [r[0] for r in conn.execute(table.select().with_only_columns(table.c.leadid))]
    assert sorted(stored) == sorted(ids)
