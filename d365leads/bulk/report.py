"""The per-record report of a bulk job, as CSV or JSON (chosen by the file extension)."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from d365leads.bulk.journal import ItemRow
from d365leads.bulk.journal_protocol import JobJournal
from d365leads.bulk.planner import state_label
from d365leads.csvsafe import neutralise
from d365leads.errors import InvalidInputError

__all__ = ["REPORT_COLUMNS", "ReportRow", "report_rows", "write_report"]

REPORT_COLUMNS = (
    "id",
    "name",
    "before",
    "after",
    "before_statecode",
    "before_statuscode",
    "after_statecode",
    "after_statuscode",
    "outcome",
    "error_code",
    "message",
    "path",
)

_OUTCOMES = {"done": "done", "skipped": "skipped", "failed": "failed"}


@dataclass(frozen=True)
class ReportRow:
    """One record of the report.

    ``outcome`` is ``done``, ``skipped`` or ``failed`` (``unfinished`` while a job is
    interrupted); ``message`` is Dataverse's error message or why the record was skipped;
    ``path`` how the record was written (``UpdateMultiple`` or ``$batch``; empty if unsent).
    """

    id: str
    name: str
    before: str
    after: str
    before_statecode: int | None
    before_statuscode: int | None
    after_statecode: int | None
    after_statuscode: int | None
    outcome: str
    error_code: str
    message: str
    path: str = ""

    @classmethod
    def from_item(cls, item: ItemRow) -> ReportRow:
        """Build a report row from a journal item."""
        if item.status == "skipped":
            after_state, after_status = item.before_state, item.before_status
        elif item.status == "done":
            after_state = item.after_state if item.after_state is not None else item.target_state
            after_status = (
                item.after_status if item.after_status is not None else item.target_status
            )
        else:
            after_state, after_status = item.after_state, item.after_status
            if after_state is None:
                after_state, after_status = item.before_state, item.before_status
        return cls(
            id=item.lead_id,
            name=item.name,
            before=state_label(item.before_state, item.before_status),
            after=state_label(after_state, after_status),
            before_statecode=item.before_state,
            before_statuscode=item.before_status,
            after_statecode=after_state,
            after_statuscode=after_status,
            outcome=_OUTCOMES.get(item.status, "unfinished"),
            error_code=item.error_code or "",
            message=(item.skip_reason or "")
            if item.status == "skipped"
            else (item.error_message or ""),
            path=item.path or "",
        )


def report_rows(journal: JobJournal, job_id: str) -> list[ReportRow]:
    """Every record of a job, in selection order."""
    return [ReportRow.from_item(item) for item in journal.items(job_id)]


def write_report(
    path: str | Path,
    rows: Sequence[ReportRow],
    *,
    summary: dict[str, Any] | None = None,
    raw_csv: bool = False,
) -> Path:
    """Write the report to ``path`` (``.csv`` or ``.json``); return the path.

    CSV cells that a spreadsheet would run as a formula (a lead named ``=HYPERLINK(...)``, a
    Dataverse message starting with ``-``) get a leading ``'`` (:mod:`d365leads.csvsafe`);
    ``raw_csv=True`` writes them as they are.

    The file is written to a temporary name and moved into place, so a crash never leaves a
    half-written report.  JSON holds ``{"summary": ..., "records": [...]}``.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InvalidInputError(
            f"cannot tell the report format from {target.name!r}: name it .csv or .json"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=suffix, dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            if suffix == ".csv":
                writer = csv.DictWriter(handle, fieldnames=list(REPORT_COLUMNS))
                writer.writeheader()
                for row in rows:
                    cells = asdict(row)
                    if not raw_csv:
                        cells = {k: neutralise(v) for k, v in cells.items()}
                    writer.writerow(cells)
            else:
                json.dump(
                    {"summary": summary or {}, "records": [asdict(r) for r in rows]},
                    handle,
                    indent=2,
                )
                handle.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
