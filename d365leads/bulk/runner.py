"""Run (or resume) a planned bulk job: concurrent ``$batch`` writers with adaptive limits.

How it behaves:

* Work is cut into ``$batch`` requests of independent operations sent with
  ``Prefer: odata.continue-on-error``, so one bad record never fails its neighbours.  State
  changes are ``PATCH statecode/statuscode`` with ``If-Match: *``; qualification is the bound
  ``QualifyLead`` action, one operation per lead, inside the same kind of batch.
* Worker threads share the client's session and its :class:`~d365leads.http.throttle.ThrottleState`:
  a 429 pauses every worker for ``Retry-After``.  The number of workers is the server's
  ``x-ms-dop-hint`` capped by ``concurrency``; how many of them may send at once, and the batch
  size, adapt AIMD-style (cut on a 429 or a timeout, grow step by step after calm batches).
  A throttled batch is not re-sent by the session: it goes back to the queue, so the workers
  do not all fire at the moment the pause ends.
* Every item is committed to the journal as ``inflight`` before its batch is sent and its
  outcome is committed when the answer arrives.  Items whose outcome is unknown (a timeout, a
  lost or incomplete response, a 5xx, or a crash) are re-read before anything is re-sent; a
  qualify is counted as done when the lead is already qualified or an opportunity originates
  from it, so QualifyLead never runs twice for a lead.
* Business failures (invalid transition, record gone) are recorded and the job goes on;
  transient failures are retried up to ``max_attempts`` sends per item.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from d365leads.batch import BatchRequest, OperationResult
from d365leads.bulk.journal import ItemOutcome, ItemRow, JobInfo, Journal
from d365leads.bulk.planner import DEFAULT_BATCH_SIZE, BulkAction, JobSpec
from d365leads.bulk.selection import LeadSnapshot, fetch_leads, find_originated_opportunities
from d365leads.errors import (
    BatchError,
    BulkJobError,
    HTTPError,
    ServerError,
    ThrottledError,
    TransportError,
)

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["BulkRunner", "JobProgress", "JobSummary", "RunOptions"]

_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_MAX_SERVER_WORKERS = 52  # Dataverse's concurrent-request limit per user and web server


@dataclass(frozen=True)
class RunOptions:
    """Tuning of a run.

    ``concurrency`` caps the workers (None: the server's ``x-ms-dop-hint``); ``batch_size`` is the
    starting number of operations per ``$batch``, adapted between ``min_batch_size`` and
    ``max_batch_size``; ``max_attempts`` bounds the sends per item before it is failed.
    """

    batch_size: int = DEFAULT_BATCH_SIZE
    min_batch_size: int = 5
    max_batch_size: int = 1000
    concurrency: int | None = None
    max_attempts: int = 10
    calm_batches: int = 3
    max_verify_failures: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.min_batch_size <= self.batch_size <= self.max_batch_size <= 1000:
            raise BulkJobError(
                "batch sizes must satisfy 1 <= min <= batch size <= max <= 1000 "
                f"(got {self.min_batch_size}, {self.batch_size}, {self.max_batch_size})"
            )
        if self.concurrency is not None and self.concurrency < 1:
            raise BulkJobError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.max_attempts < 1:
            raise BulkJobError("max_attempts must be at least 1")


@dataclass(frozen=True)
class JobProgress:
    """A progress snapshot (for the progress bar)."""

    total: int
    completed: int
    done: int
    failed: int
    skipped: int
    elapsed_s: float
    rate: float
    eta_s: float | None
    throttled: int
    concurrency: int
    batch_size: int


@dataclass
class JobSummary:
    """What a run did: final counts plus the figures of the report's summary."""

    job_id: str
    counts: dict[str, int]
    elapsed_s: float
    requests: int
    operations: int
    throttled: int
    waited_s: float
    workers: int
    peak_concurrency: int
    final_batch_size: int
    verified: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no item failed and none is left unfinished."""
        return (
            self.counts.get("failed", 0) == 0
            and self.counts.get("pending", 0) == 0
            and self.counts.get("inflight", 0) == 0
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form."""
        written = self.counts.get("done", 0) + self.counts.get("failed", 0)
        return {
            "job_id": self.job_id,
            "counts": dict(self.counts),
            "elapsed_s": round(self.elapsed_s, 3),
            "records_per_s": round(written / self.elapsed_s, 2) if self.elapsed_s > 0 else None,
            "requests": self.requests,
            "operations": self.operations,
            "requests_per_record": round(self.requests / written, 4) if written else None,
            "throttled": self.throttled,
            "waited_s": round(self.waited_s, 3),
            "workers": self.workers,
            "peak_concurrency": self.peak_concurrency,
            "final_batch_size": self.final_batch_size,
            "verified": self.verified,
            "errors": dict(self.errors),
        }


_Kind = Literal["write", "verify"]
_Task = tuple[_Kind, list[ItemRow], int]


class BulkRunner:
    """Runs one journalled job to completion (see the module docstring).

    ``sleep``/``clock`` are injectable; the runner itself never sleeps (waiting after a 429 is
    the session's job), it only measures.
    """

    def __init__(
        self,
        session: ApiSession,
        journal: Journal,
        job_id: str,
        *,
        options: RunOptions | None = None,
        on_progress: Callable[[JobProgress], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._journal = journal
        self._job: JobInfo = journal.job(job_id)
        self._spec: JobSpec = self._job.spec
        self._options = options or RunOptions()
        self._on_progress = on_progress
        self._clock = clock
        self._cond = threading.Condition()
        self._progress_lock = threading.Lock()
        self._pending: deque[ItemRow] = deque()
        self._verify: deque[ItemRow] = deque()
        self._attempts: dict[str, int] = {}
        self._active = 0
        self._limit = 1
        self._cap = 1
        self._peak = 0
        self._batch_size = self._options.batch_size
        self._calm = 0
        self._epoch = 0
        self._ssthresh = 1
        self._seen_throttles = 0
        self._fatal: BaseException | None = None
        self._stop = False
        self._requests = 0
        self._operations = 0
        self._verified = 0
        self._verify_failures = 0
        self._errors: dict[str, int] = {}
        self._started = 0.0
        self._completed_at_start = 0
        self._counts: dict[str, int] = {}
        org = session.org_url.rstrip("/")
        if self._job.org_url != org:
            raise BulkJobError(
                f"job {job_id} was planned for {self._job.org_url}, not {org}; "
                "resume it against the same org"
            )

    @property
    def job(self) -> JobInfo:
        """The job being run."""
        return self._job

    # public

    def run(self) -> JobSummary:
        """Run until every item is done, failed or skipped; return the summary.

        Raises the first fatal error (authentication, permission, a malformed request) after
        the workers have stopped; the journal then says exactly what is left to do, and a new
        runner resumes it.  ``KeyboardInterrupt`` stops the workers after their current batch.
        """
        job_id = self._job.job_id
        for row in self._journal.items(job_id, ["pending", "inflight"]):
            self._attempts[row.lead_id] = row.attempts
            (self._verify if row.status == "inflight" else self._pending).append(row)
        self._counts = self._journal.counts(job_id)
        self._completed_at_start = (
            self._counts["done"] + self._counts["failed"] + self._counts["skipped"]
        )
        self._journal.set_state(job_id, "running")
        throttle_start = self._session.throttle.snapshot()
        self._seen_throttles = throttle_start.throttled
        self._cap = self._worker_count()
        # Slow start from half the workers up to all of them; see _adapt.
        self._limit = max(1, self._cap // 2)
        self._ssthresh = self._cap
        self._started = self._clock()
        threads = [
            threading.Thread(target=self._worker, name=f"d365leads-bulk-{n}", daemon=True)
            for n in range(self._cap)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.5)
        except KeyboardInterrupt:
            with self._cond:
                self._stop = True
                self._cond.notify_all()
            for thread in threads:
                thread.join()
            raise
        if self._fatal is not None:
            raise self._fatal
        counts = self._journal.counts(job_id)
        if counts["pending"] == 0 and counts["inflight"] == 0:
            self._journal.set_state(job_id, "finished")
        throttle_end = self._session.throttle.snapshot()
        return JobSummary(
            job_id=job_id,
            counts=counts,
            elapsed_s=self._clock() - self._started,
            requests=self._requests,
            operations=self._operations,
            throttled=throttle_end.throttled - throttle_start.throttled,
            waited_s=throttle_end.waited_s - throttle_start.waited_s,
            workers=self._cap,
            peak_concurrency=self._peak,
            final_batch_size=self._batch_size,
            verified=self._verified,
            errors=dict(self._errors),
        )

    # scheduling

    def _worker_count(self) -> int:
        hint = self._session.throttle.dop_hint
        if hint is None and (self._pending or self._verify):
            # Any answer carries x-ms-dop-hint; without one the fallback below applies.
            with contextlib.suppress(HTTPError, TransportError):
                self._session.get_json("WhoAmI")
            hint = self._session.throttle.dop_hint
        wanted = self._options.concurrency
        if hint is not None and wanted is not None:
            count = min(hint, wanted)
        else:
            count = hint or wanted or 4
        return max(1, min(count, _MAX_SERVER_WORKERS))

    def _next_task(self) -> _Task | None:
        with self._cond:
            while True:
                if self._fatal is not None or self._stop:
                    return None
                if self._verify and self._active < self._limit:
                    batch = [self._verify.popleft() for _ in range(min(50, len(self._verify)))]
                    return self._take("verify", batch)
                if self._pending and self._active < self._limit:
                    size = min(self._batch_size, len(self._pending))
                    batch = [self._pending.popleft() for _ in range(size)]
                    return self._take("write", batch)
                if not self._pending and not self._verify and self._active == 0:
                    return None
                self._cond.wait()

    def _take(self, kind: _Kind, batch: list[ItemRow]) -> _Task:
        self._active += 1
        self._peak = max(self._peak, self._active)
        return kind, batch, self._epoch

    def _worker(self) -> None:
        while True:
            task = self._next_task()
            if task is None:
                return
            kind, rows, epoch = task
            try:
                if kind == "write":
                    self._write(rows, epoch)
                else:
                    self._check(rows, epoch)
            except BaseException as exc:  # stop the job; the journal keeps what is left
                with self._cond:
                    if self._fatal is None:
                        self._fatal = exc
            finally:
                with self._cond:
                    self._active -= 1
                    self._cond.notify_all()
            self._report_progress()

    def _requeue(self, rows: Sequence[ItemRow], *, verify: bool) -> None:
        with self._cond:
            (self._verify if verify else self._pending).extend(rows)
            self._cond.notify_all()

    # adaptive limits (AIMD)

    def _adapt(self, epoch: int, *, congested: bool) -> None:
        """React to the outcome of a request sent in ``epoch`` (AIMD).

        Congestion (a 429 anywhere, a timeout, a 5xx) cuts the target concurrency and the batch
        size to three quarters; calm batches add one worker per ``calm_batches`` and a tenth of
        the starting batch size per batch.  The workers start at half the cap and double while
        calm until the first congestion (slow start).  Outcomes of requests sent before the last
        reaction are ignored: they say nothing about the load now.  Halving (classic AIMD) left
        a quarter of the execution-time budget unused in ``bench/bench_bulk.py``.
        """
        throttled = self._session.throttle.throttled
        with self._cond:
            if throttled > self._seen_throttles or congested:
                self._seen_throttles = max(self._seen_throttles, throttled)
                if epoch == self._epoch:
                    self._epoch += 1
                    self._limit = self._ssthresh = max(1, self._limit * 3 // 4)
                    self._calm = 0
                    self._batch_size = max(self._options.min_batch_size, self._batch_size * 3 // 4)
                return
            if epoch != self._epoch:
                return
            if self._limit < self._ssthresh:
                self._limit = min(self._cap, self._ssthresh, self._limit * 2)
            else:
                self._calm += 1
                if self._calm >= self._options.calm_batches:
                    self._calm = 0
                    self._limit = min(self._cap, self._limit + 1)
            step = max(1, self._options.batch_size // 10)
            self._batch_size = min(self._options.max_batch_size, self._batch_size + step)
            self._cond.notify_all()

    # writing

    def _add_operation(self, batch: BatchRequest, row: ItemRow) -> None:
        spec = self._spec
        if spec.action is BulkAction.QUALIFY:
            body: dict[str, Any] = {
                "CreateAccount": spec.create_account,
                "CreateContact": spec.create_contact,
                "CreateOpportunity": spec.create_opportunity,
                "Status": spec.status,
            }
            if spec.currency_id:
                body["OpportunityCurrencyId"] = {
                    "@odata.type": "Microsoft.Dynamics.CRM.transactioncurrency",
                    "transactioncurrencyid": spec.currency_id,
                }
            batch.post(f"leads({row.lead_id})/Microsoft.Dynamics.CRM.QualifyLead", body)
        else:
            batch.patch(
                f"leads({row.lead_id})",
                {"statecode": row.target_state, "statuscode": row.target_status},
            )

    def _write(self, rows: list[ItemRow], epoch: int) -> None:
        job_id = self._job.job_id
        ids = [r.lead_id for r in rows]
        self._journal.mark_inflight(job_id, ids)
        for lead_id in ids:
            self._attempts[lead_id] = self._attempts.get(lead_id, 0) + 1
        batch = BatchRequest(self._session, continue_on_error=True)
        for row in rows:
            self._add_operation(batch, row)
        with self._cond:
            self._requests += 1
            self._operations += len(rows)
        try:
            # The runner, not the session, decides about re-sending: an unknown outcome (timeout,
            # reset, 5xx) is answered by re-reading the records (see _check), and after a 429
            # the batch goes back to the queue so the workers restart one at a time.
            result = batch.execute(idempotent=False, retry=False)
        except ThrottledError as exc:
            # A 429 proves nothing was processed, so the batch is sent again without a re-read;
            # the send does not count as an attempt.
            self._count_error(exc)
            self._adapt(epoch, congested=True)
            for row in rows:
                self._attempts[row.lead_id] -= 1
            self._retry_or_fail(rows, exc)
            return
        except (TransportError, ServerError, BatchError) as exc:
            self._count_error(exc)
            self._adapt(epoch, congested=True)
            self._requeue(rows, verify=True)
            return
        outcomes: list[ItemOutcome] = []
        unknown: list[ItemRow] = []
        resend: list[ItemRow] = []
        refused: list[tuple[ItemRow, OperationResult]] = []
        congested = False
        for row, part in zip(rows, result, strict=True):
            if part.ok:
                outcomes.append(
                    ItemOutcome(
                        row.lead_id,
                        "done",
                        http_status=part.status,
                        after_state=row.target_state,
                        after_status=row.target_status,
                    )
                )
            elif part.status == 429:
                # Refused by service protection: not applied, so sent again without a re-read.
                congested = True
                resend.append(row)
            elif not part.executed:
                # With continue-on-error every operation is answered: a missing answer means the
                # response was incomplete, not that the operation was skipped.
                unknown.append(row)
            elif part.status in _TRANSIENT_STATUSES:
                congested = True
                unknown.append(row)
            else:
                refused.append((row, part))
        outcomes.extend(self._settle_refusals(refused))
        self._journal.record(job_id, outcomes)
        self._tally(outcomes)
        self._adapt(epoch, congested=congested)
        if unknown:
            self._requeue(unknown, verify=True)
        if resend:
            self._retry_or_fail(resend, None)

    def _settle_refusals(
        self, refused: Sequence[tuple[ItemRow, OperationResult]]
    ) -> list[ItemOutcome]:
        """Record refused operations as failed, unless the lead is already in its target state.

        A lead that someone else closed (or a previous attempt whose answer was lost) is
        refused with "already closed"; it has reached the target, so the job counts it done.
        """
        if not refused:
            return []
        try:
            with self._cond:
                self._requests += 1
            current = fetch_leads(self._session, [row.lead_id for row, _ in refused])
        except (TransportError, ServerError, ThrottledError, BatchError) as exc:
            self._count_error(exc)
            current = {}
        outcomes: list[ItemOutcome] = []
        for row, part in refused:
            lead = current.get(row.lead_id)
            if lead is not None and lead.statecode == row.target_state:
                outcomes.append(
                    ItemOutcome(
                        row.lead_id,
                        "done",
                        http_status=part.status,
                        after_state=lead.statecode,
                        after_status=lead.statuscode,
                    )
                )
            else:
                outcomes.append(self._failure(row, part, lead))
        return outcomes

    def _failure(
        self, row: ItemRow, part: OperationResult, lead: LeadSnapshot | None = None
    ) -> ItemOutcome:
        error = part.error
        code = error.code if error is not None else ""
        message = error.message if error is not None else f"HTTP {part.status}"
        key = code or f"HTTP {part.status}"
        with self._cond:
            self._errors[key] = self._errors.get(key, 0) + 1
        return ItemOutcome(
            row.lead_id,
            "failed",
            http_status=part.status,
            error_code=code or None,
            error_message=message,
            after_state=lead.statecode if lead is not None else None,
            after_status=lead.statuscode if lead is not None else None,
        )

    def _count_error(self, exc: BaseException) -> None:
        key = getattr(exc, "code", "") or type(exc).__name__
        with self._cond:
            self._errors[key] = self._errors.get(key, 0) + 1

    def _retry_or_fail(self, rows: Sequence[ItemRow], exc: BaseException | None) -> None:
        """Put rows back for another send, failing those out of attempts.

        Only for rows known not to be applied (throttled, or found unchanged by a re-read):
        an unknown outcome goes to :meth:`_check` first.
        """
        again: list[ItemRow] = []
        failed: list[ItemOutcome] = []
        pending: list[ItemOutcome] = []
        for row in rows:
            if self._attempts.get(row.lead_id, 0) >= self._options.max_attempts:
                reason = str(exc) if exc is not None else "throttled, or not applied"
                failed.append(
                    ItemOutcome(
                        row.lead_id,
                        "failed",
                        http_status=getattr(exc, "status", None),
                        error_code=getattr(exc, "code", None) or None,
                        error_message=f"gave up after {self._options.max_attempts} attempts: "
                        f"{reason}",
                    )
                )
            else:
                again.append(row)
                pending.append(ItemOutcome(row.lead_id, "pending"))
        self._journal.record(self._job.job_id, failed + pending)
        self._tally(failed)
        if again:
            self._requeue(again, verify=False)

    # verifying unknown outcomes

    def _check(self, rows: list[ItemRow], epoch: int) -> None:
        """Re-read items whose outcome is unknown; settle them or put them back to send."""
        ids = [r.lead_id for r in rows]
        with self._cond:
            self._requests += 1
        try:
            current = fetch_leads(self._session, ids)
            originated: set[str] = set()
            if self._spec.action is BulkAction.QUALIFY and self._spec.create_opportunity:
                not_qualified = [i for i in ids if i in current and current[i].statecode != 1]
                if not_qualified:
                    with self._cond:
                        self._requests += 1
                    originated = find_originated_opportunities(self._session, not_qualified)
        except (TransportError, ServerError, ThrottledError) as exc:
            self._count_error(exc)
            with self._cond:
                self._verify_failures += 1
                too_many = self._verify_failures > self._options.max_verify_failures
            if too_many:
                raise BulkJobError(
                    f"cannot re-read {len(ids)} leads whose outcome is unknown ({exc}); "
                    "the journal keeps them in flight: resume the job later"
                ) from exc
            self._adapt(epoch, congested=True)
            self._requeue(rows, verify=True)
            return
        with self._cond:
            self._verify_failures = 0
            self._verified += len(rows)
        outcomes: list[ItemOutcome] = []
        resend: list[ItemRow] = []
        for row in rows:
            lead = current.get(row.lead_id)
            if lead is None:
                outcomes.append(
                    ItemOutcome(
                        row.lead_id,
                        "failed",
                        http_status=404,
                        error_message="the lead no longer exists (found missing on re-read)",
                    )
                )
            elif lead.statecode == row.target_state or row.lead_id in originated:
                outcomes.append(
                    ItemOutcome(
                        row.lead_id,
                        "done",
                        after_state=lead.statecode,
                        after_status=lead.statuscode,
                    )
                )
            else:
                resend.append(row)
        self._journal.record(self._job.job_id, outcomes)
        self._tally(outcomes)
        if resend:  # just re-read: not applied
            self._retry_or_fail(resend, None)

    # progress

    def _tally(self, outcomes: Sequence[ItemOutcome]) -> None:
        with self._cond:
            for outcome in outcomes:
                if outcome.status in ("done", "failed"):
                    self._counts[outcome.status] = self._counts.get(outcome.status, 0) + 1

    def _report_progress(self) -> None:
        if self._on_progress is None:
            return
        with self._cond:
            done = self._counts.get("done", 0)
            failed = self._counts.get("failed", 0)
            skipped = self._counts.get("skipped", 0)
            completed = done + failed + skipped
            limit, size = self._limit, self._batch_size
        total = self._job.total
        elapsed = max(1e-9, self._clock() - self._started)
        rate = (completed - self._completed_at_start) / elapsed
        remaining = total - completed
        eta = remaining / rate if rate > 0 else None
        snapshot = JobProgress(
            total=total,
            completed=completed,
            done=done,
            failed=failed,
            skipped=skipped,
            elapsed_s=elapsed,
            rate=rate,
            eta_s=eta,
            throttled=self._session.throttle.throttled,
            concurrency=limit,
            batch_size=size,
        )
        with self._progress_lock:
            self._on_progress(snapshot)
