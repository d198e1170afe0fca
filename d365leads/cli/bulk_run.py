"""Running one bulk job from a ``d365leads bulk`` command's options (every job command).

:func:`run_job` checks the selection options, plans a new job (or a dry run) or resumes one
from the journal, runs it in this process (or as a worker on a PostgreSQL journal), and writes
the report; a stop leaves a checkpoint and says how to resume.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from d365leads.bulk import (
    JobSpec,
    JobSummary,
    Plan,
    RunOptions,
    create_bulk_job,
    plan_bulk_job,
    report_rows,
    run_bulk_job,
    write_report,
)
from d365leads.bulk.identities import Identity, MultiIdentitySummary, run_bulk_job_as
from d365leads.bulk.journal import SELECTING
from d365leads.bulk.journal_pg import PgJournal
from d365leads.bulk.journal_protocol import JobJournal
from d365leads.bulk.journal_url import open_journal
from d365leads.bulk.planner import BulkAction, state_label
from d365leads.bulk.progress import ProgressDisplay
from d365leads.bulk.worker import WorkerSummary, run_worker
from d365leads.cli import identities as cli_identities
from d365leads.cli.bulk_options import parse_concurrency, selection_from_options
from d365leads.cli.context import State
from d365leads.cli.errors import (
    ConfirmationRequired,
    PartialFailure,
    StoppedWithCheckpoint,
    UsageProblem,
)
from d365leads.cli.views import query_selection
from d365leads.errors import (
    BulkJobError,
    DataverseError,
    ServerError,
    ThrottledError,
    TransportError,
)

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["run_job"]


def _confirm(state: State, message: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRequired(f"{message} needs confirmation, but stdin is not a terminal")
    if not click.confirm(message + " Continue?", default=False, err=True):
        raise click.exceptions.Exit(1)


def run_job(
    ctx: click.Context,
    spec: JobSpec | BulkAction,
    *,
    statecode: int | None,
    statuscode: int | None,
    filter_: str | None,
    older_than: str | None,
    ids_file: Path | None,
    id_column: str | None,
    saved_view: str | None,
    fetchxml_file: Path | None,
    dry_run: bool,
    batch_size: int,
    concurrency: str,
    report_path: Path | None,
    resume_id: str | None,
    resume_last: bool,
    journal_path: str | None,
    yes: bool,
    identity: tuple[str, ...] = (),
    bypass_custom_logic: bool = False,
    prepare: Callable[[ApiSession, Callable[[str], None]], JobSpec] | None = None,
) -> None:
    """Run a bulk job from the command's options; ``spec`` is a :class:`BulkAction` only when
    resuming (the journal has the spec); ``prepare`` builds it from the org (a field job's
    columns, an owner) before anything is journalled, telling ``said`` which check it used
    (printed once)."""
    state = ctx.ensure_object(State)
    said: set[str] = set()

    def say_once(text: str) -> None:
        if text not in said:
            said.add(text)
            state.out.info(text)

    action = spec if isinstance(spec, BulkAction) else spec.action
    specs = [cli_identities.parse_identity(text) for text in identity]
    out = state.out
    workers = parse_concurrency(concurrency)
    resuming = bool(resume_id or resume_last)
    by_query = [v for v in (saved_view, fetchxml_file) if v is not None]
    selecting = any(v is not None for v in (filter_, older_than, ids_file, statuscode, *by_query))
    if resume_id and resume_last:
        raise UsageProblem("use --resume JOB_ID or --resume-last, not both")
    if resuming and (selecting or dry_run):
        raise UsageProblem(
            "a resumed job keeps its original selection: drop --filter/--older-than/"
            "--ids-file/--view/--fetchxml/--reason/--dry-run"
        )
    if report_path is not None and report_path.suffix.lower() not in (".csv", ".json"):
        raise UsageProblem(f"--report {report_path}: name the file .csv or .json")
    if id_column and ids_file is None:
        raise UsageProblem("--id-column needs --ids-file")
    if ids_file is not None and (filter_ or older_than or statuscode is not None):
        raise UsageProblem("--ids-file cannot be combined with --filter/--older-than/--reason")
    if by_query and (len(by_query) > 1 or ids_file or filter_ or older_than or statuscode):
        raise UsageProblem(
            "--view or --fetchxml is the whole selection: drop the other selection options"
        )
    if not resuming and not selecting:
        raise UsageProblem(
            "choose the leads: --filter ODATA, --older-than AGE, --reason REASON "
            "(reactivate), --ids-file FILE, --view NAME or --fetchxml FILE",
            hint="add --dry-run to see what a selection would do",
        )
    options = RunOptions(
        batch_size=batch_size,
        max_batch_size=batch_size,
        min_batch_size=min(5, batch_size),
        concurrency=workers,
    )
    opened = cli_identities.identity_clients(state, specs, keep_affinity=False, pool_size=56)
    senders = [identity for identity, _ in opened]
    client = opened[0][1] if opened else state.client(keep_affinity=False, pool_size=56)
    session = client.session
    journal = open_journal(journal_path)
    try:
        if resuming:
            info = journal.job(resume_id) if resume_id else journal.last_unfinished(session.org_url)
            if info.org_url != session.org_url.rstrip("/"):
                raise UsageProblem(
                    f"job {info.job_id} was planned for {info.org_url}, not {session.org_url}; "
                    "resume it against the same org (--url or --profile)"
                )
            if info.spec.action is not action:
                raise UsageProblem(
                    f"job {info.job_id} is a {info.spec.action.value} job; resume it with "
                    f"'d365leads bulk {info.spec.action.value} --resume {info.job_id}'"
                )
            job_id = info.job_id
            spec = info.spec
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
            if prepare is not None:
                spec = prepare(session, say_once)
            assert isinstance(spec, JobSpec)
            if bypass_custom_logic:
                spec = replace(spec, bypass_custom_logic=True)
            if by_query:
                selection = query_selection(client, saved_view, fetchxml_file)
            else:
                selection = selection_from_options(
                    filter_, older_than, ids_file, id_column, statecode, statuscode
                )
            if dry_run:
                started = time.monotonic()
                session.get_json("WhoAmI")
                round_trip = time.monotonic() - started
                plan = plan_bulk_job(
                    session, spec, selection, batch_size=batch_size, on_check=say_once
                )
                hint = session.throttle.dop_hint
                parallel = min(x for x in (hint, workers, 52) if x is not None)
                _print_plan(
                    state, plan, org=session.org_url, round_trip=round_trip, workers=parallel
                )
                return
            # In the journal from its first moment, so a kill while planning can be resumed.
            job_id = journal.open_job(session.org_url, spec, selection)
            try:
                plan = plan_bulk_job(
                    session, spec, selection, batch_size=batch_size, on_check=say_once
                )
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
            summary: JobSummary | MultiIdentitySummary | WorkerSummary
            if isinstance(journal, PgJournal):
                named = senders or [Identity(cli_identities.default_identity_name(state), session)]
                summary = run_worker(named, journal, job_id, options=options)
            elif senders:
                summary = run_bulk_job_as(senders, journal, job_id, options=options)
            else:
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
                "elapsed_s": data.get("elapsed_s"),
                "records_per_s": data.get("records_per_s"),
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


def _partial_report(state: State, journal: JobJournal, job_id: str, path: Path | None) -> None:
    if path is None:
        return
    try:
        write_report(path, report_rows(journal, job_id), raw_csv=state.raw_csv)
    except (OSError, DataverseError) as exc:  # the job's own error matters more
        state.out.warn(f"could not write the report {path}: {exc}")
        return
    state.out.info(f"partial report written to {path} (unfinished records marked as such)")


def _resume_hint(spec: JobSpec, job_id: str, journal: JobJournal) -> str:
    return (
        f"resume it with 'd365leads bulk {spec.action.value} --resume {job_id} "
        f"--journal {journal.path}'"
    )


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
    if plan.spec.owner_label:
        out.info(f"New owner: {plan.spec.owner_label}")
    elif plan.spec.changes:
        out.info("Changes: " + ", ".join(f"{k}={v!r}" for k, v in plan.spec.changes))
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
    kind = "UpdateMultiple or $batch" if plan.spec.action.changes_fields else "$batch"
    out.info(
        f"{len(plan.to_write)} leads to write in {plan.requests} {kind} requests of up to "
        f"{plan.batch_size}; about {estimate:.0f}s with {workers} workers "
        f"(measured round trip {round_trip * 1000:.0f} ms, plus server time per operation)."
    )
