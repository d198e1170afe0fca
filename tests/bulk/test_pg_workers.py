"""Two and three worker processes on one PostgreSQL journal, one of them killed mid-chunk."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
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
from .processes import cli_env, serve_fake

__all__ = ["bulk_pg_server", "pg_journal_url"]

pytestmark = pytest.mark.slow

N = 160


@pytest.fixture
def served() -> Iterator[tuple[FakeDataverse, FakeServer]]:
    # Latency so the victim is still mid-chunk when the test kills it.
    yield from serve_fake(FakeOptions(dop_hint=2, latency_ms=50, op_cost_ms=1))


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))


def _victim_mid_chunk(engine: sa.Engine, pid: int) -> bool:
    """True when process ``pid`` holds a chunk with items sent but not answered."""
    query = sa.text(
        "SELECT COUNT(*) FROM bulk_chunks c JOIN bulk_items i"
        " ON i.job_id = c.job_id AND i.chunk = c.chunk"
        " WHERE c.state = 'leased' AND c.worker LIKE :holder AND i.status = 'inflight'"
    )
    with engine.connect() as conn:
        return bool(conn.execute(query, {"holder": f"%:{pid}:%"}).scalar())


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_share_a_qualify_job_and_survive_a_sigkill(
    served: tuple[FakeDataverse, FakeServer], pg_journal_url: str, tmp_path: Path, workers: int
) -> None:
    fake, server = served
    ids = seed_leads(fake, N, state=0, status=1)
    selection = Selection(filter="statecode eq 0")
    client = DataverseClient(server.url, token_provider=StaticTokenProvider("planner"))
    with PgJournal(pg_journal_url, chunk_size=10) as journal:
        plan = plan_bulk_job(client.session, JobSpec.qualify(), selection, batch_size=5)
        job_id = create_bulk_job(client.session, journal, plan, selection)
    client.close()
    command = [
        sys.executable, "-m", "d365leads", "-o", "json", "--url", server.url, "bulk", "worker",
        "--job", job_id, "--journal", pg_journal_url, "--batch-size", "5", "--lease", "2",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            command,
            env=cli_env(tmp_path, "worker-token"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    engine = _engine(pg_journal_url)
    victim = procs[0]
    try:
        deadline = time.monotonic() + 60
        while not _victim_mid_chunk(engine, victim.pid):
            if victim.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the victim finished or never started a chunk before the kill")
            time.sleep(0.005)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        outputs = []
        for proc in procs[1:]:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
            outputs.append(out.decode())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        engine.dispose()
    with PgJournal(pg_journal_url) as journal:
        assert journal.job(job_id).state == "finished"
        assert journal.counts(job_id)["done"] == N
        assert journal.chunk_states(job_id) == {"open": 0, "leased": 0, "done": N // 10}
    # The victim's chunk was taken over after its lease expired (claimed a second time).
    engine = _engine(pg_journal_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT MAX(claims) FROM bulk_chunks")).scalar() >= 2
    engine.dispose()
    # Exactly one survivor marked the job finished.
    assert sum('"finished_here": true' in out for out in outputs) == 1
    assert all(fake.get("lead", i)["statecode"] == 1 for i in ids)  # type: ignore[index]
    origins = Counter(o["originatingleadid"] for o in fake.rows("opportunity"))
    assert len(origins) == N and set(origins.values()) == {1}
