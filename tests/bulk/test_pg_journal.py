"""The PostgreSQL journal: chunk leases with SKIP LOCKED, takeover after expiry, finishing once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from d365leads.auth import StaticTokenProvider
from d365leads.bulk import JobSpec, Journal, RunOptions, Selection, create_bulk_job, plan_bulk_job
from d365leads.bulk.identities import Identity
from d365leads.bulk.journal_pg import PgJournal
from d365leads.bulk.journal_url import open_journal
from d365leads.bulk.shared_pause import SharedPause
from d365leads.bulk.worker import run_worker
from d365leads.client import DataverseClient
from d365leads.config import Settings
from d365leads.errors import BulkJobError, ThrottledError
from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions

from .conftest import make_client, seed_leads
from .pg_server import bulk_pg_server, pg_journal_url

__all__ = ["bulk_pg_server", "pg_journal_url"]

REACTIVATABLE = Selection(filter="statecode eq 2 and statuscode eq 6")


def _job(fake: FakeDataverse, journal: PgJournal, n: int) -> tuple[list[str], str]:
    ids = seed_leads(fake, n)
    client = make_client(fake)
    plan = plan_bulk_job(client.session, JobSpec.reactivate(), REACTIVATABLE)
    return ids, create_bulk_job(client.session, journal, plan, REACTIVATABLE)


def test_open_journal_picks_the_backend(pg_journal_url: str, tmp_path: Path) -> None:
    with open_journal(pg_journal_url) as pg:  # type: ignore[attr-defined]
        assert isinstance(pg, PgJournal)
        assert "postgresql" in str(pg.path)
    local = open_journal(str(tmp_path / "j.sqlite"))
    assert isinstance(local, Journal)
    local.close()
    with pytest.raises(BulkJobError, match="PostgreSQL"):
        PgJournal("sqlite:///x.db")


def test_claims_never_overlap_and_expired_leases_are_taken_over(
    fake: FakeDataverse, pg_journal_url: str
) -> None:
    with PgJournal(pg_journal_url, chunk_size=10) as journal:
        _ids, job_id = _job(fake, journal, 95)
        assert journal.chunk_states(job_id) == {"open": 10, "leased": 0, "done": 0}
        claimed: list[int] = []
        by_worker: dict[str, list[int]] = {}
        lock = threading.Lock()

        def grab(worker: str) -> None:
            while (chunk := journal.claim_chunk(job_id, worker, 60)) is not None:
                with lock:
                    claimed.append(chunk)
                    by_worker.setdefault(worker, []).append(chunk)

        threads = [threading.Thread(target=grab, args=(f"w{n}",)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(claimed) == list(range(10))  # each chunk once, none missed
        assert journal.claim_chunk(job_id, "late", 60) is None
        # A worker that stops renewing loses its chunks once the lease runs out (which threads
        # got chunks is up to the scheduler: take the busiest as the one that stops renewing,
        # and let the others release theirs).
        holder = max(by_worker, key=lambda worker: len(by_worker[worker]))
        for other in set(by_worker) - {holder}:
            journal.settle_chunks(job_id, other, release=True)
        held_by_w1 = journal.renew(job_id, holder, 0.2)
        time.sleep(0.4)  # the lease is the database's clock; nothing else to inject here
        taken = [journal.claim_chunk(job_id, "rescuer", 60) for _ in range(12)]
        taken_ids = [c for c in taken if c is not None]
        reopened = len(taken_ids)
        assert reopened >= held_by_w1 > 0
        assert len(set(taken_ids)) == len(taken_ids)
        assert journal.chunk_items(job_id, 9)[0].seq == 90


def test_two_workers_in_threads_share_one_job_and_finish_it_once(
    fake: FakeDataverse, pg_journal_url: str
) -> None:
    with PgJournal(pg_journal_url, chunk_size=20) as journal:
        ids, job_id = _job(fake, journal, 200)
        results = {}

        def work(name: str) -> None:
            session = make_client(fake).session
            results[name] = run_worker(
                [Identity(name, session)],
                journal,
                job_id,
                options=RunOptions(batch_size=10, max_batch_size=10, min_batch_size=5),
                lease_s=30,
                poll_s=0.05,
                name=name,
            )

        threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(results) == {"w0", "w1"}
        assert [r.finished_here for r in results.values()].count(True) == 1
        assert journal.job(job_id).state == "finished"
        assert journal.counts(job_id)["done"] == 200
        assert journal.chunk_states(job_id) == {"open": 0, "leased": 0, "done": 10}
        by_identity = journal.counts_by_identity(job_id)
        assert sum(c["done"] for c in by_identity.values()) == 200
    assert all(fake.get("lead", i)["statecode"] == 0 for i in ids)
    sends = [r.body.decode() for r in fake.requests("POST", "$batch")]
    assert all(sum(f"leads({i})" in b for b in sends) == 1 for i in ids)


def test_a_worker_on_an_unknown_job_fails_clearly(fake: FakeDataverse, pg_journal_url: str) -> None:
    with PgJournal(pg_journal_url) as journal, pytest.raises(BulkJobError, match="no job"):
        run_worker([Identity("a", make_client(fake).session)], journal, "nope")


def test_a_429_in_one_process_pauses_the_same_identity_elsewhere(pg_journal_url: str) -> None:
    fake = FakeDataverse(options=FakeOptions(max_requests=3, window_s=60.0))
    slept: dict[str, list[float]] = {"a": [], "b": []}
    with fake.mock(), PgJournal(pg_journal_url) as journal:
        # Two "processes" of one identity: same token, separate sessions and throttle states.
        a, b = (
            DataverseClient(
                fake.org_url,
                token_provider=StaticTokenProvider("one-user"),
                sleep=slept[n].append,
                settings=Settings(url=fake.org_url, max_retries=0),
            )
            for n in ("a", "b")
        )
        share_a = SharedPause(journal, a.session, "app")
        share_b = SharedPause(journal, b.session, "app")
        for _ in range(3):
            a.session.get_json("WhoAmI")
        with pytest.raises(ThrottledError):
            a.session.get_json("WhoAmI")
        assert a.session.throttle.pause_remaining() > 0
        assert b.session.throttle.pause_remaining() == 0
        share_a.sync()
        share_b.sync()
        assert share_b.applied == 1
        assert b.session.throttle.throttled == 0  # learnt, not refused
        assert b.session.throttle.pause_remaining() > 50
        sent_before = len(fake.requests())
        with pytest.raises(ThrottledError):
            b.session.get_json("WhoAmI")  # waits out the shared pause first (injected sleep)
        assert slept["b"] and slept["b"][0] > 50
        assert len(fake.requests()) == sent_before + 1


def test_a_job_is_journalled_before_its_selection_is_read(
    fake: FakeDataverse, pg_journal_url: str
) -> None:
    seed_leads(fake, 12)
    client = make_client(fake)
    spec = JobSpec.reactivate()
    with PgJournal(pg_journal_url, chunk_size=5) as journal:
        job_id = journal.open_job(client.session.org_url, spec, REACTIVATABLE)
        opened = journal.job(job_id)
        assert (opened.state, opened.total) == ("selecting", 0)
        assert journal.last_unfinished(client.session.org_url).job_id == job_id
        plan = plan_bulk_job(client.session, spec, REACTIVATABLE)
        assert (
            create_bulk_job(client.session, journal, plan, REACTIVATABLE, job_id=job_id) == job_id
        )
        planned = journal.job(job_id)
        assert (planned.state, planned.total) == ("planned", 12)
        assert sum(journal.chunk_states(job_id).values()) == 3
        with pytest.raises(BulkJobError, match="not waiting for its selection"):
            create_bulk_job(client.session, journal, plan, REACTIVATABLE, job_id=job_id)
        declined = journal.open_job(client.session.org_url, spec, REACTIVATABLE)
        journal.discard_job(declined)
        with pytest.raises(BulkJobError):
            journal.job(declined)
