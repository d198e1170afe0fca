"""The options every bulk job command shares: how leads are selected, the reasons, workers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from d365leads.bulk import (
    DEFAULT_BATCH_SIZE,
    Selection,
    build_filter,
    parse_age,
    read_ids_file,
)
from d365leads.cli import identities as cli_identities
from d365leads.cli.errors import (
    UsageProblem,
)
from d365leads.errors import (
    InvalidInputError,
)
from d365leads.models.enums import DisqualifyReason, LeadStatus

__all__ = [
    "OPEN_STATUSES",
    "REASONS",
    "parse_concurrency",
    "reason_value",
    "selection_from_options",
    "selection_options",
]

F = TypeVar("F", bound=Callable[..., Any])

REASONS = {r.name.lower().replace("_", "-"): r.value for r in DisqualifyReason}
OPEN_STATUSES = {"new": LeadStatus.NEW.value, "contacted": LeadStatus.CONTACTED.value}


def reason_value(text: str) -> int:
    """The status value of a disqualify/reactivate reason given by name or number."""
    key = text.strip().lower().replace("_", "-").replace(" ", "-")
    if key in REASONS:
        return REASONS[key]
    if key.isdigit():
        return int(key)
    raise click.BadParameter(
        f"{text!r} is not a disqualify reason; use one of {', '.join(REASONS)} or a number"
    )


def selection_options(func: F) -> F:
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
        click.option("--view", "saved_view", metavar="NAME", help="Leads of a saved view."),
        click.option(
            "--fetchxml",
            "fetchxml_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Leads of the FetchXML query in FILE.",
        ),
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
            metavar="FILE|postgresql://...",
            help="Job journal: a SQLite file (default in the user data dir) or postgresql://URL.",
        ),
        click.option(
            "--bypass-custom-logic",
            is_flag=True,
            help="Send MSCRM.BypassBusinessLogicExecution: CustomSync,CustomAsync, so custom "
            "plug-ins and workflows do NOT run for these writes (Power Automate flows may "
            "still run). Needs the prvBypassCustomBusinessLogic privilege. Off by default.",
        ),
        click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation."),
        cli_identities.identity_option(),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def parse_concurrency(text: str) -> int | None:
    """``--concurrency``: a positive number of workers, or ``auto`` (``None``, the DOP hint)."""
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


def selection_from_options(
    filter_: str | None,
    older_than: str | None,
    ids_file: Path | None,
    id_column: str | None,
    statecode: int | None,
    statuscode: int | None,
) -> Selection:
    """The leads a bulk command selects: an ids file, or a filter from the selection options."""
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
