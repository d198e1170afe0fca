"""The work queues of a bulk run and its adaptive limits, shared by the worker threads.

Items wait in two queues: ``pending`` (to send) and ``verify`` (outcome unknown: re-read before
anything is re-sent; served first). How many workers may send at once and how big a batch is
adapt AIMD-style, see :meth:`Scheduler.adapt`. Every figure of the run's summary is counted
here, under the one lock the workers share.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from d365leads.bulk.journal import ItemOutcome, ItemRow
from d365leads.bulk.runner.options import RunOptions

__all__ = ["Scheduler", "Task", "TaskKind"]

TaskKind = Literal["write", "verify"]

# Items re-read per verify request.
_VERIFY_CHUNK = 50


@dataclass(frozen=True)
class Task:
    """Work for one worker: write ``rows`` or re-read them; ``epoch`` dates it for :meth:`adapt`."""

    kind: TaskKind
    rows: list[ItemRow]
    epoch: int


class Scheduler:
    """Hands out tasks within the current limits and keeps the run's counters (thread-safe)."""

    def __init__(self, options: RunOptions) -> None:
        self._options = options
        self._source: Callable[[], list[ItemRow]] | None = None
        self._cond = threading.Condition()
        self._pending: deque[ItemRow] = deque()
        self._verify: deque[ItemRow] = deque()
        self._active = 0
        self._limit = 1
        self._cap = 1
        self._peak = 0
        self._batch_size = options.batch_size
        self._calm = 0
        self._epoch = 0
        self._ssthresh = 1
        self._seen_throttles = 0
        self._fatal: BaseException | None = None
        self._stop = False
        self._share: int | None = None
        self._requests = 0
        self._operations = 0
        self._verified = 0
        self._verify_failures = 0
        self._errors: dict[str, int] = {}
        self._counts: dict[str, int] = {}

    # setting up

    def load(self, rows: Iterable[ItemRow], counts: dict[str, int]) -> None:
        """Queue the journal's unfinished items (``inflight`` ones are re-read first)."""
        with self._cond:
            for row in rows:
                (self._verify if row.status == "inflight" else self._pending).append(row)
            self._counts = dict(counts)

    def set_source(self, source: Callable[[], list[ItemRow]]) -> None:
        """Draw work from ``source`` as the queue runs low, instead of loading it all up front.

        ``source`` returns the next rows to do (an empty list when there are none left); it is
        how several identities or processes share one job, each taking work at its own pace.
        """
        with self._cond:
            self._source = source

    @property
    def has_work(self) -> bool:
        """True while any item waits to be sent or re-read (or may still be drawn)."""
        with self._cond:
            return bool(self._pending or self._verify or self._source is not None)

    def _refill(self) -> None:
        # Under the lock: rows drawn late would be dealt to whoever asks next anyway.
        if self._source is None or len(self._pending) >= self._batch_size:
            return
        try:
            rows = self._source()
        except Exception as exc:  # the journal is gone: stop the run, keep what it holds
            self._source = None
            if self._fatal is None:
                self._fatal = exc
            return
        if not rows:
            self._source = None
            return
        for row in rows:
            (self._verify if row.status == "inflight" else self._pending).append(row)

    def start(self, workers: int, *, throttled: int) -> None:
        """Set the worker cap; slow start from half the workers (see :meth:`adapt`)."""
        with self._cond:
            self._cap = workers
            self._limit = max(1, workers // 2)
            self._ssthresh = workers
            self._seen_throttles = throttled

    # handing out work

    def next_task(self) -> Task | None:
        """Block until a task may start; ``None`` when the run is over (or must stop)."""
        with self._cond:
            while True:
                if self._fatal is not None or self._stop:
                    return None
                self._refill()
                allowed = self._allowed()
                if self._verify and self._active < allowed:
                    size = min(_VERIFY_CHUNK, len(self._verify))
                    return self._take("verify", [self._verify.popleft() for _ in range(size)])
                if self._pending and self._active < allowed:
                    size = min(self._batch_size, len(self._pending))
                    return self._take("write", [self._pending.popleft() for _ in range(size)])
                if not self._pending and not self._verify and self._active == 0:
                    return None
                self._cond.wait()

    def _allowed(self) -> int:
        return self._limit if self._share is None else min(self._limit, self._share)

    def set_share(self, share: int | None) -> None:
        """Cap the tasks in flight at ``share`` (this process's part of the identity's
        ``x-ms-dop-hint``, see :mod:`d365leads.bulk.dop_share`); ``None`` lifts the cap."""
        with self._cond:
            self._share = share
            self._cond.notify_all()

    def share_floor(self) -> int:
        """The most tasks that may be in flight now or start before the cap changes (the
        adaptive limit may grow up to the cap meanwhile)."""
        with self._cond:
            return max(self._active, self._cap if self._share is None else self._share)

    def _take(self, kind: TaskKind, rows: list[ItemRow]) -> Task:
        self._active += 1
        self._peak = max(self._peak, self._active)
        return Task(kind, rows, self._epoch)

    def task_done(self) -> None:
        """A worker finished its task (whatever the outcome)."""
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def requeue(self, rows: Sequence[ItemRow], *, reread: bool) -> None:
        """Put ``rows`` back: re-read before any resend (``reread``), or sent again."""
        with self._cond:
            (self._verify if reread else self._pending).extend(rows)
            self._cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        """Stop the run on a fatal error (the first one is kept and raised by the runner)."""
        with self._cond:
            if self._fatal is None:
                self._fatal = exc
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop handing out work (``KeyboardInterrupt``); tasks in flight finish."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    @property
    def fatal(self) -> BaseException | None:
        """The error that stopped the run, if any."""
        with self._cond:
            return self._fatal

    # adaptive limits (AIMD)

    def adapt(self, epoch: int, *, congested: bool, throttled: int) -> None:
        """React to the outcome of a request sent in ``epoch`` (AIMD).

        ``throttled`` is the session's count of 429 answers so far. Congestion (a 429
        anywhere, a timeout, a 5xx) cuts the target concurrency and the batch size to three
        quarters; calm batches add one worker per ``calm_batches`` and a tenth of the starting
        batch size per batch.  The workers start at half the cap and double while calm until
        the first congestion (slow start).  Outcomes of requests sent before the last reaction
        are ignored: they say nothing about the load now.  Halving (classic AIMD) left a
        quarter of the execution-time budget unused in ``bench/bench_bulk.py``.
        """
        options = self._options
        with self._cond:
            if throttled > self._seen_throttles or congested:
                self._seen_throttles = max(self._seen_throttles, throttled)
                if epoch == self._epoch:
                    self._epoch += 1
                    self._limit = self._ssthresh = max(1, self._limit * 3 // 4)
                    self._calm = 0
                    self._batch_size = max(options.min_batch_size, self._batch_size * 3 // 4)
                return
            if epoch != self._epoch:
                return
            if self._limit < self._ssthresh:
                self._limit = min(self._cap, self._ssthresh, self._limit * 2)
            else:
                self._calm += 1
                if self._calm >= options.calm_batches:
                    self._calm = 0
                    self._limit = min(self._cap, self._limit + 1)
            step = max(1, options.batch_size // 10)
            self._batch_size = min(options.max_batch_size, self._batch_size + step)
            self._cond.notify_all()

    # counters

    def count_request(self, operations: int = 0) -> None:
        """One request was sent (carrying ``operations`` batch operations)."""
        with self._cond:
            self._requests += 1
            self._operations += operations

    def count_error(self, key: str) -> None:
        """One more error of kind ``key`` (a Dataverse error code, or an exception name)."""
        with self._cond:
            self._errors[key] = self._errors.get(key, 0) + 1

    def verify_failed(self) -> int:
        """A re-read failed; return how many failed in a row."""
        with self._cond:
            self._verify_failures += 1
            return self._verify_failures

    def verify_succeeded(self, items: int) -> None:
        """A re-read of ``items`` items succeeded."""
        with self._cond:
            self._verify_failures = 0
            self._verified += items

    def tally(self, outcomes: Sequence[ItemOutcome]) -> None:
        """Count the final outcomes (done, failed) among ``outcomes``."""
        with self._cond:
            for outcome in outcomes:
                if outcome.status in ("done", "failed"):
                    self._counts[outcome.status] = self._counts.get(outcome.status, 0) + 1

    def completed(self) -> tuple[int, int, int]:
        """``(done, failed, skipped)`` items so far."""
        with self._cond:
            return (
                self._counts.get("done", 0),
                self._counts.get("failed", 0),
                self._counts.get("skipped", 0),
            )

    @property
    def limits(self) -> tuple[int, int]:
        """``(workers allowed to send at once, batch size)`` now."""
        with self._cond:
            return self._limit, self._batch_size

    @property
    def workers(self) -> int:
        """The worker cap of the run."""
        return self._cap

    @property
    def peak(self) -> int:
        """The most tasks that ran at once."""
        with self._cond:
            return self._peak

    @property
    def requests(self) -> int:
        """Requests sent (batches and re-reads)."""
        with self._cond:
            return self._requests

    @property
    def operations(self) -> int:
        """Batch operations sent."""
        with self._cond:
            return self._operations

    @property
    def verified(self) -> int:
        """Items re-read because their outcome was unknown."""
        with self._cond:
            return self._verified

    @property
    def errors(self) -> dict[str, int]:
        """Errors by kind (a copy)."""
        with self._cond:
            return dict(self._errors)
