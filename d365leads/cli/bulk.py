"""``d365leads bulk reactivate|disqualify|qualify``: durable, resumable bulk lead jobs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from d365leads.bulk import (
    DEFAULT_BATCH_SIZE,
    JobSpec,
    Journal,
    Plan,
    RunOptions,
    Selection,
    build_filter,
    create_bulk_job,
    parse_age,
    plan_bulk_job,
    read_ids_file,
    report_rows,
    run_bulk_job,
    write_report,
)
from d365leads.bulk.journal import SELECTING
from d365leads.bulk.planner import state_label
from d365leads.bulk.progress import ProgressDisplay
from d365leads.cli.context import State
from d365leads.cli.errors import (
    ConfirmationRequired,
    PartialFailure,
    StoppedWithCheckpoint,
    UsageProblem,
)
from d365leads.errors import (
    BulkJobError,
    DataverseError,
    InvalidIdError,
    InvalidInputError,
    ServerError,
    ThrottledError,
    TransportError,
)
from d365leads.models.enums import DisqualifyReason, LeadState, LeadStatus
from d365leads.odata.literals import normalize_guid

__all__ = ["bulk"]

F = TypeVar("F", bound=Callable[..., Any])

_REASONS = {r.name.lower().replace("_", "-"): r.value for r in DisqualifyReason}
_OPEN_STATUSES = {"new": LeadStatus.NEW.value, "contacted": LeadStatus.CONTACTED.value}


def _reason_value(text: str) -> int:
    key = text.strip().lower().replace("_", "-").replace(" ", "-")
    if key in _REASONS:
        return _REASONS[key]
    if key.isdigit():
        return int(key)
    raise click.BadParameter(
        f"{text!r} is not a disqualify reason; use one of {', '.join(_REASONS)} or a number"
    )


def _selection_options(func: F) -> F:
    options = [
        click.option("--filter", "filter_", metavar="ODATA", help="OData $filter on leads."),
        click.option(
            "--older-than",
            metavar="AGE",
            help="Only leads last modified before this age ago (365d, 12w, 48h, 1y).",
        ),
        click.option(
            "--ids-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="File of lead ids: one GUID a line, or CSV (see --id-column).",
        ),
        click.option("--id-column", metavar="NAME", help="CSV column holding the lead ids."),
        click.option("--dry-run", is_flag=True, help="Show the plan; send no write."),
        click.option(
            "--batch-size",
            type=click.IntRange(1, 1000),
            default=DEFAULT_BATCH_SIZE,
            show_default=True,
            help="Operations per $batch to start with (adapts to throttling).",
        ),
        click.option(
            "--concurrency",
            default="auto",
            show_default=True,
            metavar="N|auto",
            help="Maximum parallel requests (auto: the server's x-ms-dop-hint).",
        ),
        click.option(
            "--report",
            "report_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write one row per record to FILE.csv or FILE.json.",
        ),
        click.option("--resume", "resume_id", metavar="JOB_ID", help="Resume a job."),
        click.option("--resume-last", is_flag=True, help="Resume the newest unfinished job."),
        click.option(
            "--journal",
            "journal_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Job journal (SQLite); default: jobs.sqlite in the user data directory.",
        ),
        click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def bulk() -> None:
    """Reactivate, disqualify or qualify many leads at once (resumable, with a report)."""


@bulk.command("reactivate")
@click.option(
    "--reason",
    metavar="REASON",
    help="Select leads disqualified with this reason (lost, cannot-contact, "
    "no-longer-interested, canceled, or a number).",
)
@click.option(
    "--status",
    type=click.Choice(sorted(_OPEN_STATUSES)),
    default="new",
    show_default=True,
    help="Status reason the leads get when reopened.",
)
@_selection_options
@click.pass_context
def reactivate(ctx: click.Context, /, reason: str | None, status: str, **kw: Any) -> None:
    """Reopen closed leads, for example every 'No Longer Interested' lead older than a year."""
    statecode = LeadState.DISQUALIFIED.value if reason else None
    statuscode = _reason_value(reason) if reason else None
    spec = JobSpec.reactivate(_OPEN_STATUSES[status])
    _run(ctx, spec, statecode=statecode, statuscode=statuscode, **kw)


@bulk.command("disqualify")
@click.option(
    "--reason",
    metavar="REASON",
    default="lost",
    show_default=True,
    help="Disqualify reason: lost, cannot-contact, no-longer-interested, canceled, or a number.",
)
@_selection_options
@click.pass_context
def disqualify(ctx: click.Context, /, reason: str, **kw: Any) -> None:
    """Disqualify open leads with a reason."""
    spec = JobSpec.disqualify(_reason_value(reason))
    _run(ctx, spec, statecode=None, statuscode=None, **kw)


@bulk.command("qualify")
@click.option("--no-account", is_flag=True, help="Do not create an account.")
@click.option("--no-contact", is_flag=True, help="Do not create a contact.")
@click.option("--no-opportunity", is_flag=True, help="Do not create an opportunity.")
@click.option("--currency", metavar="GUID", help="transactioncurrencyid for the opportunities.")
@_selection_options
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
    _run(ctx, spec, statecode=None, statuscode=None, **kw)


@bulk.command("jobs")
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Job journal (SQLite); default: jobs.sqlite in the user data directory.",
)
@click.pass_context
def jobs(ctx: click.Context, /, journal_path: Path | None) -> None:
    """List the jobs in the journal, newest first, with their progress (ids for --resume)."""
    state = ctx.ensure_object(State)
    with Journal(journal_path) as journal:
        rows = []
        for info in journal.jobs():
            counts = journal.counts(info.job_id)
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
                }
            )
    state.out.rows(rows, title="Bulk jobs")


def _concurrency(text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise click.BadParameter(
            f"{text!r}: use a positive number or auto", param_hint="--concurrency"
        )
    return value


def _confirm(state: State, message: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRequired(f"{message} needs confirmation, but stdin is not a terminal")
    if not click.confirm(message + " Continue?", default=False, err=True):
        raise click.exceptions.Exit(1)


def _run(
    ctx: click.Context,
    spec: JobSpec,
    *,
    statecode: int | None,
    statuscode: int | None,
    filter_: str | None,
    older_than: str | None,
    ids_file: Path | None,
    id_column: str | None,
    dry_run: bool,
    batch_size: int,
    concurrency: str,
    report_path: Path | None,
    resume_id: str | None,
    resume_last: bool,
    journal_path: Path | None,
    yes: bool,
) -> None:
    state = ctx.ensure_object(State)
    out = state.out
    workers = _concurrency(concurrency)
    resuming = bool(resume_id or resume_last)
    selecting = any(v is not None for v in (filter_, older_than, ids_file, statuscode))
    if resume_id and resume_last:
        raise UsageProblem("use --resume JOB_ID or --resume-last, not both")
    if resuming and (selecting or dry_run):
        raise UsageProblem(
            "a resumed job keeps its original selection: drop --filter/--older-than/"
            "--ids-file/--reason/--dry-run"
        )
    if report_path is not None and report_path.suffix.lower() not in (".csv", ".json"):
        raise UsageProblem(f"--report {report_path}: name the file .csv or .json")
    if id_column and ids_file is None:
        raise UsageProblem("--id-column needs --ids-file")
    if ids_file is not None and (filter_ or older_than or statuscode is not None):
        raise UsageProblem("--ids-file cannot be combined with --filter/--older-than/--reason")
    if not resuming and not selecting:
        raise UsageProblem(
            "choose the leads: --filter ODATA, --older-than AGE, --reason REASON "
            "(reactivate) or --ids-file FILE",
            hint="add --dry-run to see what a selection would do",
        )
    options = RunOptions(
        batch_size=batch_size,
        max_batch_size=batch_size,
        min_batch_size=min(5, batch_size),
        concurrency=workers,
    )
    client = state.client(keep_affinity=False, pool_size=56)
    session = client.session
    journal = Journal(journal_path)
    try:
        if resuming:
            info = journal.job(resume_id) if resume_id else journal.last_unfinished(session.org_url)
            if info.org_url != session.org_url.rstrip("/"):
                raise UsageProblem(
                    f"job {info.job_id} was planned for {info.org_url}, not {session.org_url}; "
                    "resume it against the same org (--url or --profile)"
                )
            if info.spec.action is not spec.action:
                raise UsageProblem(
                    f"job {info.job_id} is a {info.spec.action.value} job; resume it with "
                    f"'d365leads bulk {info.spec.action.value} --resume {info.job_id}'"
                )
            job_id = info.job_id
            if info.state == SELECTING:
                # Killed while reading the selection: nothing was written, so plan it again.
                _confirm(
                    state,
                    f"Resume job {job_id} ({info.spec.action.value}) on {session.org_url}: "
                    "its selection was not read yet.",
                    yes,
                )
                plan = plan_bulk_job(session, info.spec, info.selection, batch_size=batch_size)
                create_bulk_job(session, journal, plan, info.selection, job_id=job_id)
                total = len(plan.items)
            else:
                counts = journal.counts(job_id)
                left = counts["pending"] + counts["inflight"]
                _confirm(
                    state,
                    f"Resume job {job_id} ({info.spec.action.value}) on {session.org_url}: "
                    f"{left} of {info.total} leads left.",
                    yes,
                )
                total = info.total
        else:
            selection = _selection(filter_, older_than, ids_file, id_column, statecode, statuscode)
            if dry_run:
                started = time.monotonic()
                session.get_json("WhoAmI")
                round_trip = time.monotonic() - started
                plan = plan_bulk_job(session, spec, selection, batch_size=batch_size)
                hint = session.throttle.dop_hint
                parallel = min(x for x in (hint, workers, 52) if x is not None)
                _print_plan(
                    state, plan, org=session.org_url, round_trip=round_trip, workers=parallel
                )
                return
            # In the journal from its first moment, so a kill while planning can be resumed.
            job_id = journal.open_job(session.org_url, spec, selection)
            try:
                plan = plan_bulk_job(session, spec, selection, batch_size=batch_size)
                _confirm(
                    state,
                    f"{spec.action.value.capitalize()} {len(plan.to_write)} leads on "
                    f"{session.org_url} ({len(plan.items) - len(plan.to_write)} skipped).",
                    yes,
                )
            except (ServerError, ThrottledError, TransportError) as exc:
                raise StoppedWithCheckpoint(
                    f"job {job_id} stopped while reading its selection: {exc}",
                    hint=_resume_hint(spec, job_id, journal),
                ) from exc
            except (Exception, click.exceptions.Exit):
                journal.discard_job(job_id)
                raise
            create_bulk_job(session, journal, plan, selection, job_id=job_id)
            total = len(plan.items)
        out.info(f"job {job_id} (journal {journal.path})")
        try:
            with ProgressDisplay(total, stream=out.stderr) as display:
                summary = run_bulk_job(
                    session, journal, job_id, options=options, on_progress=display.update
                )
        except (BulkJobError, ServerError, ThrottledError, TransportError) as exc:
            _partial_report(state, journal, job_id, report_path)
            raise StoppedWithCheckpoint(
                f"job {job_id} stopped: {exc}", hint=_resume_hint(spec, job_id, journal)
            ) from exc
        except (Exception, KeyboardInterrupt):
            _partial_report(state, journal, job_id, report_path)
            out.info(
                f"job {job_id} stopped; nothing is lost: {_resume_hint(spec, job_id, journal)}"
            )
            raise
        if report_path is not None:
            write_report(
                report_path,
                report_rows(journal, job_id),
                summary=summary.to_json(),
                raw_csv=state.raw_csv,
            )
            out.info(f"report written to {report_path}")
        data = summary.to_json()
        out.record(
            {
                "job_id": job_id,
                "done": summary.counts["done"],
                "skipped": summary.counts["skipped"],
                "failed": summary.counts["failed"],
                "elapsed_s": data["elapsed_s"],
                "records_per_s": data["records_per_s"],
                "requests": summary.requests,
                "throttled": summary.throttled,
                "workers": summary.workers,
            }
        )
        if summary.counts["failed"]:
            where = f"see {report_path}" if report_path else "rerun with --report FILE.csv"
            raise PartialFailure(f"{summary.counts['failed']} of {total} leads failed; {where}")
    finally:
        journal.close()


def _partial_report(state: State, journal: Journal, job_id: str, path: Path | None) -> None:
    if path is None:
        return
    try:
        write_report(path, report_rows(journal, job_id), raw_csv=state.raw_csv)
    except (OSError, DataverseError) as exc:  # the job's own error matters more
        state.out.warn(f"could not write the report {path}: {exc}")
        return
    state.out.info(f"partial report written to {path} (unfinished records marked as such)")


def _resume_hint(spec: JobSpec, job_id: str, journal: Journal) -> str:
    return (
        f"resume it with 'd365leads bulk {spec.action.value} --resume {job_id} "
        f"--journal {journal.path}'"
    )


def _selection(
    filter_: str | None,
    older_than: str | None,
    ids_file: Path | None,
    id_column: str | None,
    statecode: int | None,
    statuscode: int | None,
) -> Selection:
    try:
        if ids_file is not None:
            ids = read_ids_file(ids_file, id_column=id_column)
            return Selection(ids=tuple(ids), description=f"{len(ids)} ids from {ids_file}")
        age = parse_age(older_than) if older_than else None
        text = build_filter(
            filter=filter_, statecode=statecode, statuscode=statuscode, older_than=age
        )
    except InvalidInputError as exc:
        raise UsageProblem(str(exc)) from None
    if text is None:  # pragma: no cover - guarded by the caller
        raise UsageProblem("no selection given")
    return Selection(filter=text)


def _print_plan(state: State, plan: Plan, *, org: str, round_trip: float, workers: int) -> None:
    out = state.out
    estimate = plan.estimate_seconds(round_trip_s=round_trip, workers=workers)
    summary: dict[str, Any] = plan.summary()
    summary["org"] = org
    summary["workers"] = workers
    summary["estimated_seconds"] = round(estimate, 1)
    summary["sample"] = [
        {"id": i.lead_id, "name": i.name, "from": state_label(i.before_state, i.before_status)}
        for i in plan.sample()
    ]
    if not out.is_table:
        out.record(summary)
        return
    out.info(f"Dry run: {plan.spec.action.value} on {org}; no write will be sent.")
    out.rows(
        [{"transition": t, "leads": n} for t, n in sorted(plan.transitions.items())]
        or [{"transition": "(none)", "leads": 0}],
        title="Transitions",
    )
    if plan.skipped:
        out.rows(
            [{"skipped because": r, "leads": n} for r, n in sorted(plan.skipped.items())],
            title="Skipped",
        )
    if summary["sample"]:
        out.rows(summary["sample"], title="Sample")
    out.info(
        f"{len(plan.to_write)} leads to write in {plan.requests} $batch requests of up to "
        f"{plan.batch_size}; about {estimate:.0f}s with {workers} workers "
        f"(measured round trip {round_trip * 1000:.0f} ms, plus server time per operation)."
    )
