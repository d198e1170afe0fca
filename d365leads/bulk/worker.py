"""A worker process on a job whose journal is shared in PostgreSQL.

Any number of processes, on any machines that reach the database, run :func:`run_worker` on the
same job.  Each claims chunks under a lease (see :mod:`d365leads.bulk.journal_pg`), renews its
leases while it works, and settles a chunk once all its items are.  When no chunk is free it
waits: either the other workers finish theirs, or one of them died and its lease runs
out, and this worker takes the chunk over, re-reading the items that were in flight before
sending anything again (so QualifyLead never runs twice for a lead).  The job is marked finished
by whichever worker sees it settled first, exactly once.  The workers of one identity share its
``x-ms-dop-hint`` (:mod:`d365leads.bulk.dop_share`): together they never have more requests in
flight than the hint; a killed worker's share comes free after the short slot lease
(``slot_lease_s``), well before its chunks do.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from d365leads.bulk.dop_share import DEFAULT_SLOT_LEASE_S, DopShare
from d365leads.bulk.identities import Identity, MultiIdentitySummary, run_bulk_job_as
from d365leads.bulk.journal import ItemRow
from d365leads.bulk.journal_pg import PgJournal
from d365leads.bulk.runner import RunOptions
from d365leads.bulk.shared_pause import SharedPause
from d365leads.errors import BulkJobError

__all__ = [
    "DEFAULT_LEASE_S",
    "DEFAULT_SLOT_LEASE_S",
    "WorkerSummary",
    "run_worker",
    "worker_name",
]

DEFAULT_LEASE_S = 60.0

_log = logging.getLogger(__name__)


def worker_name() -> str:
    """A name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class WorkerSummary:
    """What one worker did, and whether it was the one that finished the job."""

    job_id: str
    worker: str
    counts: dict[str, int]
    rounds: list[MultiIdentitySummary] = field(default_factory=list)
    finished_here: bool = False

    @property
    def ok(self) -> bool:
        """True when no item failed and none is left unfinished."""
        return all(self.counts.get(k, 0) == 0 for k in ("failed", "pending", "inflight"))

    @property
    def requests(self) -> int:
        """Requests this worker sent."""
        return sum(r.requests for r in self.rounds)

    @property
    def throttled(self) -> int:
        """429 answers this worker got."""
        return sum(r.throttled for r in self.rounds)

    @property
    def workers(self) -> int:
        """The most sending threads this worker ran in one round."""
        return max((r.workers for r in self.rounds), default=0)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        identities: dict[str, int] = {}
        for summary in self.rounds:
            for name, n in summary.dealt.items():
                identities[name] = identities.get(name, 0) + n
        return {
            "job_id": self.job_id,
            "worker": self.worker,
            "counts": dict(self.counts),
            "requests": self.requests,
            "throttled": self.throttled,
            "items_taken_by_identity": identities,
            "finished_here": self.finished_here,
        }


class _Leases:
    """This worker's claims on one job, for one identity; renewed by the heartbeat."""

    def __init__(self, journal: PgJournal, job_id: str, holder: str, lease_s: float) -> None:
        self.journal = journal
        self.job_id = job_id
        self.holder = holder
        self.lease_s = lease_s

    def claim(self, _identity: str) -> list[ItemRow]:
        journal = self.journal
        journal.settle_chunks(self.job_id, self.holder)
        while True:
            chunk = journal.claim_chunk(self.job_id, self.holder, self.lease_s)
            if chunk is None:
                return []
            rows = journal.chunk_items(self.job_id, chunk)
            if rows:
                return rows
            # Settled by a worker that died before marking the chunk done.
            journal.settle_chunks(self.job_id, self.holder)


def _dispatch(leases: dict[str, _Leases]) -> Callable[[str], list[ItemRow]]:
    def claim(identity: str) -> list[ItemRow]:
        return leases[identity].claim(identity)

    return claim


def run_worker(
    identities: Sequence[Identity],
    journal: PgJournal,
    job_id: str,
    *,
    options: RunOptions | None = None,
    lease_s: float = DEFAULT_LEASE_S,
    slot_lease_s: float = DEFAULT_SLOT_LEASE_S,
    poll_s: float = 1.0,
    name: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WorkerSummary:
    """Work on a shared job until every chunk is settled; see the module docstring.

    ``lease_s`` is how long a claim lasts without renewal (the heartbeat renews it every third
    of that); ``slot_lease_s`` is how long this worker's share of the dop hint outlives it
    (renewed every 0.5 s, so at least 1.5 s); ``poll_s`` is the wait between looks when other
    workers hold every chunk left.
    """
    if lease_s <= 0 or poll_s <= 0:
        raise BulkJobError("lease_s and poll_s must be positive")
    if slot_lease_s < 1.5:
        raise BulkJobError(f"slot_lease_s must be at least 1.5 seconds, got {slot_lease_s}")
    me = name or worker_name()
    summary = WorkerSummary(job_id=job_id, worker=me, counts={})
    journal.job(job_id)  # fails clearly when there is no such job
    journal.set_state(job_id, "running")
    pauses = [SharedPause(journal, i.session, i.name) for i in identities]
    for pause in pauses:
        pause.start()
    try:
        leases = (lease_s, slot_lease_s)
        _work_rounds(identities, journal, job_id, options, leases, poll_s, me, sleep, summary)
    finally:
        for pause in pauses:
            pause.stop()
    summary.finished_here = journal.finish_job(job_id)
    summary.counts = journal.counts(job_id)
    return summary


def _work_rounds(
    identities: Sequence[Identity],
    journal: PgJournal,
    job_id: str,
    options: RunOptions | None,
    lease_times: tuple[float, float],
    poll_s: float,
    me: str,
    sleep: Callable[[float], None],
    summary: WorkerSummary,
) -> None:
    lease_s, slot_lease_s = lease_times
    while True:
        leases = {i.name: _Leases(journal, job_id, f"{me}/{i.name}", lease_s) for i in identities}
        stop = threading.Event()

        def heartbeat(stop: threading.Event = stop, leases: dict[str, _Leases] = leases) -> None:
            while not stop.wait(lease_s / 3):
                for lease in leases.values():
                    try:
                        lease.journal.renew(job_id, lease.holder, lease_s)
                    except SQLAlchemyError as exc:  # try again next beat, within the lease
                        _log.warning("could not renew the lease on job %s: %s", job_id, exc)

        beat = threading.Thread(target=heartbeat, name="d365leads-lease-heartbeat", daemon=True)
        beat.start()
        # Each identity's x-ms-dop-hint is shared with its workers in other processes.
        shares = {
            i.name: DopShare(journal, i.session, i.name, f"{me}/{i.name}", lease_s=slot_lease_s)
            for i in identities
        }
        try:
            for share in shares.values():
                share.start()
            summary.rounds.append(
                run_bulk_job_as(
                    identities,
                    journal,
                    job_id,
                    options=options,
                    claim=_dispatch(leases),
                    finish=False,
                    shares={name: share.attach for name, share in shares.items()},
                )
            )
        finally:
            for share in shares.values():
                share.stop()
            stop.set()
            beat.join()
            for lease in leases.values():
                journal.settle_chunks(job_id, lease.holder, release=True)
        chunks = journal.chunk_states(job_id)
        if chunks["open"] == 0 and chunks["leased"] == 0:
            break
        sleep(poll_s)  # other workers hold the rest: wait for them to finish, or to expire
