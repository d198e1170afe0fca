"""The tuning of a bulk run, its progress snapshots and its final summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from d365leads.bulk.planner import DEFAULT_BATCH_SIZE
from d365leads.errors import BulkJobError

__all__ = ["JobProgress", "JobSummary", "RunOptions"]


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
