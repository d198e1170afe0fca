"""``d365leads sync``: mirror tables into a database (pull), report it (status), push a CSV."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from d365leads import _wire
from d365leads.cli.context import State, pass_state
from d365leads.cli.errors import (
    ConfirmationRequired,
    PartialFailure,
    StoppedWithCheckpoint,
    UsageProblem,
)
from d365leads.cli.output import Output
from d365leads.cli.views import read_fetchxml_file
from d365leads.sync.pull import (
    DEFAULT_OVERLAP,
    DEFAULT_RECONCILE_EVERY,
    DeltaTokenExpiredError,
    PageDone,
    PullResult,
    pull_fetchxml,
)
from d365leads.sync.pull import pull as _pull
from d365leads.sync.push import PushResult, push_csv
from d365leads.sync.status import sync_status
from d365leads.sync.tables import TABLES
from d365leads.sync.target import DEFAULT_URL, SyncTarget

__all__ = ["sync"]

DB_ENV = "D365LEADS_SYNC_DB"


def _db_url(value: str | None, state: State) -> str:
    url = value or state.environ.get(DB_ENV) or DEFAULT_URL
    if "://" not in url:
        # A plain path means an SQLite file.
        url = f"sqlite:///{url}"
    return url


def _missing_sqlite_file(url: str) -> str | None:
    """The path of an SQLite file URL that does not exist (so status does not create it)."""
    if not url.startswith("sqlite:"):
        return None
    path = url.split(":///", 1)[-1] if ":///" in url else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return None if os.path.exists(path) else path


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


_DB_OPTION = click.option(
    "--db",
    "db",
    metavar="URL",
    help=(
        f"Target database: sqlite:///file.db, postgresql://user@host/db or mssql+pyodbc://... "
        f"(a plain path is an SQLite file; default: ${DB_ENV} or ./d365leads.db)."
    ),
)


@click.group()
def sync() -> None:
    """Mirror Dataverse tables into SQLite/PostgreSQL/SQL Server, and push leads from CSV."""


@sync.command("pull")
@click.option(
    "--tables",
    "tables",
    multiple=True,
    metavar="LIST",
    help=f"Tables to mirror, comma-separated (default: {','.join(TABLES)}).",
)
@_DB_OPTION
@click.option(
    "--select",
    "select",
    multiple=True,
    metavar="COLUMNS",
    help=(
        "Extra columns to mirror besides the modelled ones, comma-separated; "
        "TABLE.COLUMN limits one to a table (e.g. lead.new_score); COLUMN:TYPE stores a tenant "
        "column typed (int, bigint, decimal, money, float, bool, datetime, date, string, memo) "
        "instead of as text. A new column is added to the database and the table is reloaded "
        "once."
    ),
)
@click.option("--full", is_flag=True, help="Reload the tables in full instead of incrementally.")
@click.option(
    "--delete-mode",
    type=click.Choice(["tombstone", "remove"]),
    default="tombstone",
    show_default=True,
    help="Keep rows deleted in Dataverse with _deleted_at set, or remove them.",
)
@click.option(
    "--watermark",
    "watermark",
    multiple=True,
    metavar="LIST",
    help="Tables to sync by the modifiedon watermark even if change tracking is on.",
)
@click.option(
    "--no-auto-resync",
    is_flag=True,
    help="When a delta token has expired, stop with exit code 5 instead of reloading the table.",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, _wire.MAX_PAGE_SIZE),
    default=_wire.MAX_PAGE_SIZE,
    show_default=True,
    help="Rows per page (Prefer: odata.maxpagesize).",
)
@click.option(
    "--overlap-minutes",
    type=click.FloatRange(0, None),
    default=DEFAULT_OVERLAP.total_seconds() / 60,
    show_default=True,
    help="Watermark mode: re-read this many minutes before the watermark.",
)
@click.option(
    "--raw",
    type=click.Choice(["full", "none"]),
    default="full",
    show_default=True,
    help=(
        "What the _raw column keeps: each row's JSON as it came (full) or nothing (none: a "
        "narrower, faster mirror of the typed columns). Changing it reloads the table."
    ),
)
@click.option(
    "--fetchxml",
    "fetchxml_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=(
        "Mirror only the rows of the FetchXML query in FILE (a filtered mirror of its table, "
        "kept by a modifiedon watermark plus a key reconciliation)."
    ),
)
@click.option(
    "--reconcile",
    is_flag=True,
    help="FetchXML mirror: also find rows deleted or no longer matching the query, now.",
)
@click.option(
    "--reconcile-every",
    type=click.IntRange(0, None),
    default=DEFAULT_RECONCILE_EVERY,
    show_default=True,
    metavar="N",
    help="FetchXML mirror: reconcile on every Nth run (0: only with --reconcile).",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="FetchXML mirror: reload it from a changed query (or from a whole-table mirror).",
)
@pass_state
def pull_command(
    state: State,
    tables: tuple[str, ...],
    db: str | None,
    select: tuple[str, ...],
    full: bool,
    delete_mode: str,
    watermark: tuple[str, ...],
    no_auto_resync: bool,
    page_size: int,
    overlap_minutes: float,
    raw: str,
    fetchxml_file: Path | None,
    reconcile: bool,
    reconcile_every: int,
    rebuild: bool,
) -> None:
    """Mirror tables: a full load first, then only what changed (deletes included).

    Each page and the sync position are committed together, so an interrupted pull resumes
    where it stopped. Tables without change tracking are synced by their modifiedon
    watermark, which does not capture deletes (the output says so).

    With --fetchxml FILE only the query's rows are mirrored, into the table of its entity.
    A FetchXML query has no change tracking: each run is a modifiedon watermark pass, and rows
    that were deleted or left the query's filter are found by a key reconciliation that runs
    every --reconcile-every runs or with --reconcile. The mirror keeps the query's hash; a
    changed query needs --rebuild.
    """
    from datetime import timedelta

    out = state.out
    names = _split(tables) or list(TABLES)
    show_pages = out.stderr.isatty()
    xml: str | None = None
    if fetchxml_file is not None:
        if raw != "full":
            raise UsageProblem("--raw none is for whole-table mirrors, not a FetchXML mirror")
        if select or watermark:
            raise UsageProblem(
                "--select and --watermark do not apply to a FetchXML mirror: its <attribute> "
                "elements choose the columns and it always runs a watermark pass"
            )
        if len(_split(tables)) > 1:
            raise UsageProblem("a FetchXML mirror is of one table: give at most one in --tables")
        xml = read_fetchxml_file(fetchxml_file)
    elif reconcile or rebuild:
        raise UsageProblem("--reconcile and --rebuild are for a FetchXML mirror (--fetchxml FILE)")
    client = state.client()

    def notify(table: str, message: str) -> None:
        out.warn(f"{table}: {message}")

    def progress(done: PageDone) -> None:
        if show_pages:
            out.info(
                f"{done.table}: page {done.page} ({done.kind}), {done.total_upserted} rows written"
            )

    with SyncTarget(_db_url(db, state)) as target:
        if xml is not None:
            result: PullResult = pull_fetchxml(
                client.session,
                target,
                xml,
                table=_split(tables)[0] if tables else None,
                full=full,
                rebuild=rebuild,
                reconcile=reconcile,
                reconcile_every=reconcile_every,
                delete_mode="remove" if delete_mode == "remove" else "tombstone",
                page_size=page_size,
                overlap=timedelta(minutes=overlap_minutes),
                notify=notify,
                progress=progress,
            )
            _show(out, result)
            return
        out.info(f"Syncing {', '.join(names)} from {client.session.org_url} into {target.url}")
        try:
            result = _pull(
                client.session,
                target,
                names,
                select=_split(select),
                full=full,
                delete_mode="remove" if delete_mode == "remove" else "tombstone",
                page_size=page_size,
                overlap=timedelta(minutes=overlap_minutes),
                watermark_tables=_split(watermark),
                notify=notify,
                progress=progress,
                auto_resync=not no_auto_resync,
                raw="none" if raw == "none" else "full",
            )
        except DeltaTokenExpiredError as exc:
            raise StoppedWithCheckpoint(
                str(exc), hint="run 'd365leads sync pull --full' to reload the table"
            ) from exc
    _show(out, result)


def _show(out: Output, result: PullResult) -> None:
    out.rows(
        [
            {
                "table": t.table,
                "mode": t.mode,
                "pass": t.kind + (" (resumed)" if t.resumed else ""),
                "written": t.upserted,
                "deleted": t.deleted,
                "unchanged": t.unchanged,
                "pages": t.pages,
                "deletes_captured": t.deletes_captured,
                "full_reason": t.full_resync_reason,
            }
            for t in result.tables
        ],
        title="sync pull",
    )


@sync.command("status")
@_DB_OPTION
@pass_state
def status_command(state: State, db: str | None) -> None:
    """Per table: rows mirrored, tombstones, last sync time and mode (delta or watermark); a
    FetchXML mirror also shows its query's SHA-256 and the runs since it last reconciled."""
    url = _db_url(db, state)
    missing = _missing_sqlite_file(url)
    if missing is not None:
        state.out.info(f"There is no database at {missing}; run 'd365leads sync pull' first.")
        state.out.rows([], title="sync status")
        return
    with SyncTarget(url) as target:
        rows = [s.as_dict() for s in sync_status(target)]
        if not rows:
            state.out.info(f"{target.url} holds no synced table yet; run 'd365leads sync pull'.")
    state.out.rows(rows, title="sync status")


@sync.command("push")
@click.argument("csv_file", type=click.Path(dir_okay=False, readable=True, allow_dash=False))
@click.option(
    "--match-on",
    default="emailaddress1",
    show_default=True,
    metavar="COLUMN",
    help="Column that finds the existing lead to update (rows without a match are created).",
)
@click.option(
    "--alternate-key",
    is_flag=True,
    help="The match column is an alternate key of lead: upsert with PATCH leads(COLUMN='v').",
)
@click.option("--dry-run", is_flag=True, help="Validate and match only; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Write the valid rows even if some are invalid.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write one line per CSV row (action, id, error): .json for JSON, else CSV.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Operations per $batch request.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def push_command(
    state: State,
    csv_file: str,
    match_on: str,
    alternate_key: bool,
    dry_run: bool,
    skip_invalid: bool,
    report_path: str | None,
    batch_size: int,
    yes: bool,
) -> None:
    """Create or update leads from CSV_FILE (header = lead column names).

    Columns the library does not model (tenant columns such as new_score) are checked against
    the org's column definitions and converted by their type. The whole file is validated
    before the first write; any invalid row (reported by line) means nothing is written,
    unless --skip-invalid.
    """
    out = state.out
    client = state.client()
    org = client.session.org_url

    def confirm(plan: PushResult) -> bool:
        summary = (
            f"{plan.created} create(s), {plan.updated} update(s), {plan.upserted} upsert(s)"
            + (f", {plan.invalid} invalid row(s) skipped" if plan.invalid else "")
        )
        if yes:
            out.info(f"Writing to {org}: {summary}")
            return True
        if not sys.stdin.isatty():
            raise ConfirmationRequired(f"push would write to {org}: {summary}")
        return click.confirm(f"Write to {org}: {summary}?", err=True)

    progress: Callable[[int, int], None] | None = None
    if out.stderr.isatty():

        def progress(done: int, total: int) -> None:
            out.info(f"{done}/{total} rows written")

    result = push_csv(
        client,
        csv_file,
        match_on=match_on,
        alternate_key=alternate_key,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        batch_size=batch_size,
        progress=progress,
        confirm=None if dry_run else confirm,
    )
    if report_path:
        result.write_report(report_path)
        out.info(f"Report written to {report_path}")
    summary: dict[str, Any] = {
        "dry_run": result.dry_run,
        "created": result.created,
        "updated": result.updated,
        "upserted": result.upserted,
        "failed": result.failed,
        "invalid": result.invalid,
    }
    if result.aborted:
        out.info("Nothing written.")
    out.record(summary, title="sync push" + (" (dry run)" if dry_run else ""))
    failures = [r for r in result.rows if r.action == "failed"]
    for row in failures[:20]:
        out.warn(f"line {row.line}: {row.error}")
    if failures:
        raise PartialFailure(
            f"{len(failures)} of {len(result.rows)} rows failed",
            hint="see --report FILE for every row's outcome" if not report_path else None,
        )
