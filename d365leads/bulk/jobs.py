"""The bulk job API in three steps: plan (read-only), create (journal), run (write).

::

    from d365leads.bulk import JobSpec, Journal, Selection
    from d365leads.bulk import create_bulk_job, plan_bulk_job, run_bulk_job

    selection = Selection(filter="statecode eq 2 and statuscode eq 6")
    plan = plan_bulk_job(client.session, JobSpec.reactivate(), selection)   # a dry run stops here
    with Journal() as journal:
        job_id = create_bulk_job(client.session, journal, plan, selection)
        summary = run_bulk_job(client.session, journal, job_id)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from d365leads.bulk.journal_protocol import JobJournal
from d365leads.bulk.planner import DEFAULT_BATCH_SIZE, JobSpec, Plan, plan_job
from d365leads.bulk.runner import BulkRunner, JobProgress, JobSummary, RunOptions
from d365leads.bulk.selection import Selection, select_leads
from d365leads.metadata import StatusMetadata

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["create_bulk_job", "plan_bulk_job", "run_bulk_job"]


def plan_bulk_job(
    session: ApiSession,
    spec: JobSpec,
    selection: Selection,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    metadata: StatusMetadata | None = None,
) -> Plan:
    """Read the selected leads and plan the job; sends no write.

    The target status reason is checked against the org's status metadata first (tenant-defined
    reasons are fine), so a wrong one fails with :class:`~d365leads.errors.InvalidStatusError`
    before anything is read or written.
    """
    reasons = (metadata or StatusMetadata(session)).status_reasons("lead")
    reasons.check(spec.status, spec.target_state, state_label=f"the {spec.action.value} target")
    leads, missing = select_leads(session, selection)
    return plan_job(spec, leads, missing_ids=missing, batch_size=batch_size)


def create_bulk_job(
    session: ApiSession,
    journal: JobJournal,
    plan: Plan,
    selection: Selection,
    *,
    job_id: str | None = None,
) -> str:
    """Freeze a plan into the journal; return the job id.

    ``job_id`` names a job stored before its selection was read (:meth:`JobJournal.open_job`).
    """
    return journal.create_job(session.org_url, plan, selection, job_id=job_id)


def run_bulk_job(
    session: ApiSession,
    journal: JobJournal,
    job_id: str,
    *,
    options: RunOptions | None = None,
    on_progress: Callable[[JobProgress], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> JobSummary:
    """Run (or resume) a journalled job to the end; see :class:`BulkRunner`."""
    runner = BulkRunner(
        session, journal, job_id, options=options, on_progress=on_progress, clock=clock
    )
    return runner.run()
