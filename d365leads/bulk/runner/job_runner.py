"""The :class:`BulkRunner`: starts the workers on a job, waits for them, and sums the run up."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from d365leads.bulk.journal import ItemRow, JobInfo
from d365leads.bulk.journal_protocol import JobJournal
from d365leads.bulk.runner.options import JobProgress, JobSummary, RunOptions
from d365leads.bulk.runner.scheduler import Scheduler
from d365leads.bulk.runner.workers import BatchWorker
from d365leads.errors import BulkJobError, HTTPError, TransportError

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["BulkRunner"]

_MAX_SERVER_WORKERS = 52  # Dataverse's concurrent-request limit per user and web server


class BulkRunner:
    """Runs one journalled job to completion (see :mod:`d365leads.bulk.runner`).

    ``sleep``/``clock`` are injectable; the runner itself never sleeps (waiting after a 429 is
    the session's job), it only measures.
    """

    def __init__(
        self,
        session: ApiSession,
        journal: JobJournal,
        job_id: str,
        *,
        options: RunOptions | None = None,
        on_progress: Callable[[JobProgress], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        source: Callable[[], list[ItemRow]] | None = None,
        identity: str | None = None,
        finish: bool = True,
        attach_share: Callable[[Scheduler], None] | None = None,
    ) -> None:
        self._source = source
        self._finish = finish
        self._session = session
        self._journal = journal
        self._job: JobInfo = journal.job(job_id)
        self._options = options or RunOptions()
        self._on_progress = on_progress
        self._clock = clock
        self._progress_lock = threading.Lock()
        self._scheduler = Scheduler(self._options)
        if attach_share is not None:
            # Caps the requests in flight at this process's share of the identity's hint.
            attach_share(self._scheduler)
        self._worker = BatchWorker(session, journal, self._job, self._options, self._scheduler)
        self._worker.identity = identity
        self._started = 0.0
        self._completed_at_start = 0
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

    def run(self) -> JobSummary:
        """Run until every item is done, failed or skipped; return the summary.

        Raises the first fatal error (authentication, permission, a malformed request) after
        the workers have stopped; the journal then says exactly what is left to do, and a new
        runner resumes it.  ``KeyboardInterrupt`` stops the workers after their current batch.
        """
        job_id = self._job.job_id
        scheduler = self._scheduler
        rows = [] if self._source else self._journal.items(job_id, ["pending", "inflight"])
        for row in rows:
            self._worker.attempts[row.lead_id] = row.attempts
        counts = self._journal.counts(job_id)
        scheduler.load(rows, counts)
        if self._source is not None:
            scheduler.set_source(self._draw)
        self._completed_at_start = counts["done"] + counts["failed"] + counts["skipped"]
        self._journal.set_state(job_id, "running")
        throttle_start = self._session.throttle.snapshot()
        scheduler.start(self._worker_count(), throttled=throttle_start.throttled)
        self._started = self._clock()
        threads = [
            threading.Thread(target=self._work, name=f"d365leads-bulk-{n}", daemon=True)
            for n in range(scheduler.workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.5)
        except KeyboardInterrupt:
            scheduler.stop()
            for thread in threads:
                thread.join()
            raise
        fatal = scheduler.fatal
        if fatal is not None:
            raise fatal
        counts = self._journal.counts(job_id)
        if self._finish and counts["pending"] == 0 and counts["inflight"] == 0:
            self._journal.set_state(job_id, "finished")
        throttle_end = self._session.throttle.snapshot()
        return JobSummary(
            job_id=job_id,
            counts=counts,
            elapsed_s=self._clock() - self._started,
            requests=scheduler.requests,
            operations=scheduler.operations,
            throttled=throttle_end.throttled - throttle_start.throttled,
            waited_s=throttle_end.waited_s - throttle_start.waited_s,
            workers=scheduler.workers,
            peak_concurrency=scheduler.peak,
            final_batch_size=scheduler.limits[1],
            verified=scheduler.verified,
            errors=scheduler.errors,
        )

    def _draw(self) -> list[ItemRow]:
        assert self._source is not None
        rows = self._source()
        for row in rows:
            self._worker.attempts[row.lead_id] = row.attempts
        return rows

    def _worker_count(self) -> int:
        hint = self._session.throttle.dop_hint
        if hint is None and self._scheduler.has_work:
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

    def _work(self) -> None:
        """One worker thread: take tasks until the scheduler has none left."""
        while True:
            task = self._scheduler.next_task()
            if task is None:
                return
            try:
                if task.kind == "write":
                    self._worker.write(task.rows, task.epoch)
                else:
                    self._worker.check(task.rows, task.epoch)
            except BaseException as exc:  # stop the job; the journal keeps what is left
                self._scheduler.fail(exc)
            finally:
                self._scheduler.task_done()
            self._report_progress()

    def _report_progress(self) -> None:
        if self._on_progress is None:
            return
        done, failed, skipped = self._scheduler.completed()
        limit, size = self._scheduler.limits
        completed = done + failed + skipped
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
