"""What a bulk run needs from a job journal: the SQLite file or the shared PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from d365leads.bulk.journal import ItemOutcome, ItemRow, JobInfo
from d365leads.bulk.planner import JobSpec, Plan
from d365leads.bulk.selection import Selection

__all__ = ["JobJournal"]


class JobJournal(Protocol):
    """The journal operations the planner, the runner and the report use."""

    @property
    def path(self) -> object:
        """Where the journal is (a file path, or a database URL without its password)."""

    def close(self) -> None:
        """Release the journal."""

    def open_job(self, org_url: str, spec: JobSpec, selection: Selection) -> str:
        """Store a job with its selection before any lead is read; return its id."""

    def discard_job(self, job_id: str) -> None:
        """Forget a job opened by :meth:`open_job` that never got its items."""

    def create_job(
        self, org_url: str, plan: Plan, selection: Selection, *, job_id: str | None = None
    ) -> str:
        """Store a planned job (completing an opened one when ``job_id`` is given); its id."""

    def job(self, job_id: str) -> JobInfo:
        """A job's header."""

    def jobs(self) -> list[JobInfo]:
        """Every job, newest first."""

    def last_unfinished(self, org_url: str | None = None) -> JobInfo:
        """The newest unfinished job."""

    def set_state(self, job_id: str, state: str) -> None:
        """Set the job's state."""

    def items(self, job_id: str, statuses: Sequence[str] | None = None) -> list[ItemRow]:
        """Items in selection order."""

    def iter_items(self, job_id: str) -> Iterator[ItemRow]:
        """All items in selection order."""

    def counts(self, job_id: str) -> dict[str, int]:
        """Items per status."""

    def counts_by_identity(self, job_id: str) -> dict[str, dict[str, int]]:
        """Items per identity and status."""

    def mark_inflight(
        self, job_id: str, lead_ids: Sequence[str], *, identity: str | None = None
    ) -> None:
        """Commit that items are about to be sent."""

    def record(self, job_id: str, outcomes: Sequence[ItemOutcome]) -> None:
        """Commit outcomes."""
