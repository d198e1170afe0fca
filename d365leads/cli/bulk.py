"""``d365leads bulk``: the group, its state jobs (``reactivate|disqualify|qualify``) and ``jobs``.

Every job command hands its options to :func:`~d365leads.cli.bulk_run.run_job`; the field jobs
(``update``, ``assign``) are in :mod:`~d365leads.cli.bulk_fields`, ``worker`` in
:mod:`~d365leads.cli.bulk_worker`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import click

from d365leads.bulk import JobSpec
from d365leads.bulk.journal_url import open_journal
from d365leads.cli.bulk_fields import field_commands
from d365leads.cli.bulk_options import OPEN_STATUSES, reason_value, selection_options
from d365leads.cli.bulk_run import run_job
from d365leads.cli.bulk_worker import worker
from d365leads.cli.context import State
from d365leads.errors import InvalidIdError
from d365leads.models.enums import LeadState
from d365leads.odata.literals import normalize_guid

__all__ = ["bulk"]


@click.group()
def bulk() -> None:
    """Reactivate, disqualify, qualify, update or assign many leads at once (resumable)."""


@bulk.command("reactivate")
@click.option(
    "--reason",
    metavar="REASON",
    help="Select leads disqualified with this reason (lost, cannot-contact, "
    "no-longer-interested, canceled, or a number).",
)
@click.option(
    "--status",
    type=click.Choice(sorted(OPEN_STATUSES)),
    default="new",
    show_default=True,
    help="Status reason the leads get when reopened.",
)
@selection_options
@click.pass_context
def reactivate(ctx: click.Context, /, reason: str | None, status: str, **kw: Any) -> None:
    """Reopen closed leads, for example every 'No Longer Interested' lead older than a year."""
    statecode = LeadState.DISQUALIFIED.value if reason else None
    statuscode = reason_value(reason) if reason else None
    spec = JobSpec.reactivate(OPEN_STATUSES[status])
    run_job(ctx, spec, statecode=statecode, statuscode=statuscode, **kw)


@bulk.command("disqualify")
@click.option(
    "--reason",
    metavar="REASON",
    default="lost",
    show_default=True,
    help="Disqualify reason: lost, cannot-contact, no-longer-interested, canceled, or a number.",
)
@selection_options
@click.pass_context
def disqualify(ctx: click.Context, /, reason: str, **kw: Any) -> None:
    """Disqualify open leads with a reason."""
    spec = JobSpec.disqualify(reason_value(reason))
    run_job(ctx, spec, statecode=None, statuscode=None, **kw)


@bulk.command("qualify")
@click.option("--no-account", is_flag=True, help="Do not create an account.")
@click.option("--no-contact", is_flag=True, help="Do not create a contact.")
@click.option("--no-opportunity", is_flag=True, help="Do not create an opportunity.")
@click.option("--currency", metavar="GUID", help="transactioncurrencyid for the opportunities.")
@selection_options
@click.pass_context
def qualify(
    ctx: click.Context,
    /,
    no_account: bool,
    no_contact: bool,
    no_opportunity: bool,
    currency: str | None,
    **kw: Any,
) -> None:
    """Qualify open leads (QualifyLead per lead; never twice for the same lead)."""
    currency_id: str | None = None
    if currency is not None:
        try:
            currency_id = normalize_guid(currency, what="the currency")
        except InvalidIdError as exc:
            raise click.BadParameter(
                f"{exc}; pass the transactioncurrencyid", param_hint="--currency"
            ) from None
    spec = JobSpec.qualify(
        create_account=not no_account,
        create_contact=not no_contact,
        create_opportunity=not no_opportunity,
        currency_id=currency_id,
    )
    run_job(ctx, spec, statecode=None, statuscode=None, **kw)


@bulk.command("jobs")
@click.option(
    "--journal",
    "journal_path",
    metavar="FILE|postgresql://...",
    help="Job journal: a SQLite file (default in the user data dir) or postgresql://URL.",
)
@click.pass_context
def jobs(ctx: click.Context, /, journal_path: str | None) -> None:
    """List the jobs in the journal, newest first, with their progress (ids for --resume)."""
    state = ctx.ensure_object(State)
    with contextlib.closing(open_journal(journal_path)) as journal:
        rows = []
        for info in journal.jobs():
            counts = journal.counts(info.job_id)
            senders = journal.counts_by_identity(info.job_id)
            rows.append(
                {
                    "job_id": info.job_id,
                    "created": info.created_at,
                    "org": info.org_url,
                    "action": info.spec.action.value,
                    "state": info.state,
                    "total": info.total,
                    "done": counts["done"],
                    "failed": counts["failed"],
                    "skipped": counts["skipped"],
                    "left": counts["pending"] + counts["inflight"],
                    "by_identity": ", ".join(
                        f"{name}: {c['done']} done, {c['failed']} failed"
                        for name, c in sorted(senders.items())
                    ),
                }
            )
    state.out.rows(rows, title="Bulk jobs")


bulk.add_command(worker)
for _command in field_commands(run_job):
    bulk.add_command(_command)
