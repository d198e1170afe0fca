"""One bulk job run by several identities (application users) at once.

Service-protection limits are counted per user
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits), so a job run as
several application users is admitted several times the rate.  Each :class:`Identity` brings its
own :class:`~d365leads.http.pipeline.ApiSession`: its own token provider, its own throttle state
(a 429 pauses only that identity's workers) and its own ``x-ms-dop-hint``, which sets its worker
count.  The items are dealt in chunks to whichever identity asks next
(:class:`~d365leads.bulk.lease.LocalChunks`), so a throttled identity simply takes less.

::

    identities = [Identity("app-1", client1.session), Identity("app-2", client2.session)]
    result = run_bulk_job_as(identities, journal, job_id)
    result.by_identity["app-2"].counts
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from d365leads.bulk.journal import ItemRow
from d365leads.bulk.journal_protocol import JobJournal
from d365leads.bulk.lease import LocalChunks
from d365leads.bulk.runner import BulkRunner, JobSummary, RunOptions
from d365leads.bulk.runner.scheduler import Scheduler
from d365leads.errors import BulkJobError, InvalidInputError
from d365leads.http.impersonation import Caller

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["Identity", "MultiIdentitySummary", "run_bulk_job_as"]


@dataclass(frozen=True)
class Identity:
    """A named identity and the session that sends as it (the name goes in journal and report).

    ``caller_object_id`` (an application user's Entra object id, sent as ``CallerObjectId``)
    or ``caller_systemuser_id`` (its ``systemuserid``, sent as ``MSCRMCallerID``) makes the
    identity act as that user through ``session``'s app registration: :attr:`session` is then
    a copy of the one given that carries the header and has its own throttle state, so one
    app registration can run as several users.
    """

    name: str
    session: ApiSession = field(repr=False)
    caller_object_id: str | None = None
    caller_systemuser_id: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise BulkJobError("an identity needs a non-empty name")
        if self.caller_object_id is None and self.caller_systemuser_id is None:
            return
        try:
            caller = Caller(self.caller_object_id, self.caller_systemuser_id)
        except InvalidInputError as exc:
            raise BulkJobError(f"identity {self.name}: {exc}") from exc
        if self.session.caller != caller:
            object.__setattr__(self, "session", self.session.impersonating(caller))


@dataclass
class MultiIdentitySummary:
    """A run by several identities: job-wide counts plus each identity's own summary."""

    job_id: str
    counts: dict[str, int]
    elapsed_s: float
    by_identity: dict[str, JobSummary]
    dealt: dict[str, int]

    @property
    def ok(self) -> bool:
        """True when no item failed and none is left unfinished."""
        return all(self.counts.get(k, 0) == 0 for k in ("failed", "pending", "inflight"))

    @property
    def throttled(self) -> int:
        """429 answers over all identities."""
        return sum(s.throttled for s in self.by_identity.values())

    @property
    def requests(self) -> int:
        """Requests sent by all identities."""
        return sum(s.requests for s in self.by_identity.values())

    @property
    def workers(self) -> int:
        """Worker threads over all identities."""
        return sum(s.workers for s in self.by_identity.values())

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        written = self.counts.get("done", 0) + self.counts.get("failed", 0)
        return {
            "job_id": self.job_id,
            "counts": dict(self.counts),
            "elapsed_s": round(self.elapsed_s, 3),
            "records_per_s": round(written / self.elapsed_s, 2) if self.elapsed_s > 0 else None,
            "requests": self.requests,
            "throttled": self.throttled,
            "workers": self.workers,
            "identities": {
                name: {**summary.to_json(), "dealt": self.dealt.get(name, 0)}
                for name, summary in self.by_identity.items()
            },
        }


def run_bulk_job_as(
    identities: Sequence[Identity],
    journal: JobJournal,
    job_id: str,
    *,
    options: RunOptions | None = None,
    chunk_size: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    claim: Callable[[str], list[ItemRow]] | None = None,
    finish: bool = True,
    shares: Mapping[str, Callable[[Scheduler], None]] | None = None,
) -> MultiIdentitySummary:
    """Run (or resume) a journalled job with every identity at once; see the module docstring.

    ``chunk_size`` is how many items an identity takes at a time (default: the batch size).
    ``claim(name)`` deals the next rows to identity ``name`` (default: chunks of the job's
    unfinished items, in this process); ``finish=False`` leaves marking the job finished to the
    caller; ``shares[name]`` is handed identity ``name``'s scheduler to cap its requests in
    flight (its share of the hint across processes).  The first fatal error of any identity is
    raised once all have stopped; the journal then holds what is left, and a new run resumes it.
    """
    names = [i.name for i in identities]
    if not identities:
        raise BulkJobError("run_bulk_job_as needs at least one identity")
    if len(set(names)) != len(names):
        raise BulkJobError(f"identity names must be unique, got {', '.join(names)}")
    options = options or RunOptions()
    if claim is None:
        rows = journal.items(job_id, ["pending", "inflight"])
        claim = LocalChunks(rows, chunk_size or options.batch_size).claim
    dealt = dict.fromkeys(names, 0)
    dealt_lock = threading.Lock()

    def take(name: str) -> list[ItemRow]:
        assert claim is not None
        rows = claim(name)
        with dealt_lock:
            dealt[name] += len(rows)
        return rows

    runners = [
        BulkRunner(
            identity.session,
            journal,
            job_id,
            options=options,
            clock=clock,
            source=functools.partial(take, identity.name),
            identity=identity.name,
            finish=False,
            attach_share=(shares or {}).get(identity.name),
        )
        for identity in identities
    ]
    summaries: dict[str, JobSummary] = {}
    errors: list[BaseException] = []
    started = clock()

    def run(name: str, runner: BulkRunner) -> None:
        try:
            summaries[name] = runner.run()
        except BaseException as exc:  # raised below, after the other identities stop
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(n, r), name=f"d365leads-identity-{n}", daemon=True)
        for n, r in zip(names, runners, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    counts = journal.counts(job_id)
    if finish and counts["pending"] == 0 and counts["inflight"] == 0:
        journal.set_state(job_id, "finished")
    return MultiIdentitySummary(
        job_id=job_id,
        counts=counts,
        elapsed_s=clock() - started,
        by_identity={n: summaries[n] for n in names},
        dealt=dealt,
    )
