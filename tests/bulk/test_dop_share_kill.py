"""A killed worker's share of the x-ms-dop-hint comes back to the live one within the slot lease.

The slots are leased apart from the chunks: the dead worker's chunk stays leased (60 s here)
while its request slots are free again after the short slot lease, so the live worker sends at
the whole hint long before it could take the dead one's chunk over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from d365leads.auth import StaticTokenProvider
from d365leads.bulk import JobSpec, Selection, create_bulk_job, plan_bulk_job
from d365leads.bulk.journal_pg import PgJournal
from d365leads.client import DataverseClient
from d365leads.fake import FakeDataverse, FakeServer
from d365leads.fake.core.options import FakeOptions

from .conftest import seed_leads
from .pg_server import bulk_pg_server, pg_journal_url
from .processes import cli_env

__all__ = ["bulk_pg_server", "pg_journal_url"]


def _held_by_pid(journal: PgJournal) -> dict[int, int]:
    # Worker names are "host:pid:suffix/identity" (d365leads.bulk.worker.worker_name).
    with journal.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT worker, COUNT(*) FROM bulk_slots WHERE worker IS NOT NULL GROUP BY 1")
        ).all()
    return {int(str(worker).split(":")[1]): int(n) for worker, n in rows}


def _chunks_leased_by(journal: PgJournal, pid: int) -> int:
    with journal.engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM bulk_chunks WHERE state = 'leased' AND worker LIKE :pattern"
            ),
            {"pattern": f"%:{pid}:%"},
        ).scalar_one()
    return int(found)


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until it holds; the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def served() -> Iterator[tuple[FakeDataverse, FakeServer]]:
    # 200 ms per request, so the job outlasts the kill by many seconds.
    fake = FakeDataverse(options=FakeOptions(dop_hint=4, latency_ms=200))
    server = fake.serve()
    try:
        yield fake, server
    finally:
        server.close()


@pytest.mark.slow
def test_a_killed_workers_slots_come_back_within_the_slot_lease(
    served: tuple[FakeDataverse, FakeServer], pg_journal_url: str, tmp_path: Path
) -> None:
    fake, server = served
    seed_leads(fake, 1200)
    selection = Selection(filter="statecode eq 2 and statuscode eq 6")
    client = DataverseClient(server.url, token_provider=StaticTokenProvider("planner"))
    with PgJournal(pg_journal_url, chunk_size=10) as journal:
        plan = plan_bulk_job(client.session, JobSpec.reactivate(), selection, batch_size=2)
        job_id = create_bulk_job(client.session, journal, plan, selection)
    client.close()
    planner_key = set(fake.protection.stats.peak_by_caller)
    env = cli_env(tmp_path, "worker-token")
    command = [
        sys.executable, "-m", "d365leads", "-o", "json", "--url", server.url, "bulk", "worker",
        "--job", job_id, "--journal", pg_journal_url, "--batch-size", "2",
        "--lease", "60", "--slot-lease", "1.5",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    killed, live = procs
    try:
        with PgJournal(pg_journal_url) as journal:
            _wait_for(
                lambda: _held_by_pid(journal) == {killed.pid: 2, live.pid: 2},
                timeout=90,
                what="both workers to hold half the hint",
            )
            assert _chunks_leased_by(journal, killed.pid) > 0
            os.kill(killed.pid, signal.SIGKILL)
            killed.wait()
            took = _wait_for(
                lambda: _held_by_pid(journal) == {live.pid: 4},
                timeout=30,
                what="the live worker to hold the whole hint",
            )
            # The dead worker's chunk is still leased: the slots did not wait for that lease.
            assert _chunks_leased_by(journal, killed.pid) > 0
            assert live.poll() is None, live.stderr.read().decode() if live.stderr else ""
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
    assert took < 30
    peaks = {k: v for k, v in fake.protection.stats.peak_by_caller.items() if k not in planner_key}
    (worker_peak,) = peaks.values()
    assert worker_peak <= 4  # taking the slots over never put more than the hint in flight
