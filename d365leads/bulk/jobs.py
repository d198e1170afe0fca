"""The bulk job API in three steps: plan (read-only), create (journal), run (write).

::

    from d365leads.bulk import JobSpec, Journal, Selection
    from d365leads.bulk import create_bulk_job, plan_bulk_job, run_bulk_job

    selection = Selection(filter="statecode eq 2 and statuscode eq 6")
    plan = plan_bulk_job(client.session, JobSpec.reactivate(), selection)   # a dry run stops here
    # or: update_spec(client.session, {"leadsourcecode": 8}), assign_spec(client.session, "Sales")
    with Journal() as journal:
        job_id = create_bulk_job(client.session, journal, plan, selection)
        summary = run_bulk_job(client.session, journal, job_id)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from d365leads.bulk.changes import check_changes
from d365leads.bulk.journal_protocol import JobJournal
from d365leads.bulk.owners import resolve_owner
from d365leads.bulk.planner import DEFAULT_BATCH_SIZE, JobSpec, Plan, plan_job
from d365leads.bulk.runner import BulkRunner, JobProgress, JobSummary, RunOptions
from d365leads.bulk.selection import Selection, select_leads
from d365leads.bulk.unchanged import columns_to_read
from d365leads.metadata import StatusMetadata

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["assign_spec", "create_bulk_job", "plan_bulk_job", "run_bulk_job", "update_spec"]


def plan_bulk_job(
    session: ApiSession,
    spec: JobSpec,
    selection: Selection,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    metadata: StatusMetadata | None = None,
    on_check: Callable[[str], None] | None = None,
) -> Plan:
    """Read the selected leads and plan the job; sends no write.

    The target status reason is checked against the org's status metadata first (tenant-defined
    reasons are fine), so a wrong one fails with :class:`~d365leads.errors.InvalidStatusError`
    before anything is read or written.  A field job's values are checked against the org's
    column definitions (``on_check`` hears which check ran, see
    :func:`~d365leads.bulk.changes.check_changes`), and the columns it writes are read with the
    leads, so a lead that already holds every value is planned as skipped ("unchanged"), as is
    an inactive lead unless the spec has ``include_inactive``.
    """
    metadata = metadata or StatusMetadata(session)
    columns: list[str] = []
    if spec.action.changes_fields:
        check_changes(session, spec.body, metadata=metadata, on_check=on_check)
        columns = list(columns_to_read(spec.body).values())
    else:
        reasons = metadata.status_reasons("lead")
        reasons.check(spec.status, spec.target_state, state_label=f"the {spec.action.value} target")
    leads, missing = select_leads(session, selection, columns)
    return plan_job(spec, leads, missing_ids=missing, batch_size=batch_size)


def update_spec(
    session: ApiSession,
    changes: Mapping[str, Any],
    *,
    bypass_custom_logic: bool = False,
    include_inactive: bool = False,
    metadata: StatusMetadata | None = None,
    on_check: Callable[[str], None] | None = None,
) -> JobSpec:
    """:meth:`JobSpec.update` with the values checked and typed against the org's lead columns
    (text such as ``"8"`` for a choice or ``"true"`` for yes/no is converted); raises
    :class:`~d365leads.errors.InvalidInputError` naming the column, before anything is sent.
    ``on_check`` hears which check ran (the org's column definitions or the Lead model)."""
    spec = JobSpec.update(
        changes, bypass_custom_logic=bypass_custom_logic, include_inactive=include_inactive
    )
    body = check_changes(session, spec.body, metadata=metadata, on_check=on_check)
    return replace(spec, changes=tuple(sorted(body.items())))


def assign_spec(
    session: ApiSession,
    owner: str,
    *,
    table: str | None = None,
    bypass_custom_logic: bool = False,
    include_inactive: bool = False,
) -> JobSpec:
    """:meth:`JobSpec.assign` to the user or team ``owner`` names (id, domain name, full name,
    email or team name; resolved once, see :func:`~d365leads.bulk.owners.resolve_owner`)."""
    found = resolve_owner(session, owner, table=table)
    return JobSpec.assign(
        found.table,
        found.id,
        label=found.describe(),
        bypass_custom_logic=bypass_custom_logic,
        include_inactive=include_inactive,
    )


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
