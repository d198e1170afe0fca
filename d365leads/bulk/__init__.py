"""Bulk lead jobs: reactivate, disqualify, qualify, update or assign thousands of leads, durably.

See :mod:`d365leads.bulk.jobs` for the three-step API (plan, create, run) and
:mod:`d365leads.bulk.runner` for how the writes are sent.
"""

from __future__ import annotations

from d365leads.bulk.jobs import (
    assign_spec,
    create_bulk_job,
    plan_bulk_job,
    run_bulk_job,
    update_spec,
)
from d365leads.bulk.journal import ItemOutcome, ItemRow, JobInfo, Journal, default_journal_path
from d365leads.bulk.owners import Owner, resolve_owner
from d365leads.bulk.planner import (
    DEFAULT_BATCH_SIZE,
    BulkAction,
    JobSpec,
    Plan,
    PlannedItem,
    plan_job,
)
from d365leads.bulk.report import ReportRow, report_rows, write_report
from d365leads.bulk.runner import BulkRunner, JobProgress, JobSummary, RunOptions
from d365leads.bulk.selection import (
    LeadSnapshot,
    Selection,
    build_filter,
    parse_age,
    read_ids_file,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BulkAction",
    "BulkRunner",
    "ItemOutcome",
    "ItemRow",
    "JobInfo",
    "JobProgress",
    "JobSpec",
    "JobSummary",
    "Journal",
    "LeadSnapshot",
    "Owner",
    "Plan",
    "PlannedItem",
    "ReportRow",
    "RunOptions",
    "Selection",
    "assign_spec",
    "build_filter",
    "create_bulk_job",
    "default_journal_path",
    "parse_age",
    "plan_bulk_job",
    "plan_job",
    "read_ids_file",
    "report_rows",
    "resolve_owner",
    "run_bulk_job",
    "update_spec",
    "write_report",
]
