"""What a CSV push reports: row errors, the per-row outcome and the whole result."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from d365leads.csvsafe import neutralise_row
from d365leads.errors import InvalidInputError

__all__ = ["Action", "CsvValidationError", "PushOutcome", "PushResult", "RowError"]


Action = Literal["create", "update", "upsert", "invalid", "failed", "skipped"]


@dataclass(frozen=True)
class RowError:
    """One problem in the CSV file: the line (1 = header), the column and what to fix."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class CsvValidationError(InvalidInputError):
    """The CSV file has invalid rows; nothing was written. ``errors`` lists them by line."""

    def __init__(self, errors: list[RowError], *, total_rows: int) -> None:
        self.errors = errors
        self.total_rows = total_rows
        lines = len({e.line for e in errors})
        shown = "\n".join(f"  {e}" for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(
            f"{lines} of {total_rows} rows are invalid; nothing was written "
            f"(fix them, or pass --skip-invalid to write the valid rows):\n{shown}{more}"
        )


@dataclass
class PushOutcome:
    """What happened to one CSV row."""

    line: int
    action: Action
    match: str | None = None
    """The match value (or key) of the row."""
    id: str | None = None
    error: str | None = None


@dataclass
class PushResult:
    """The outcome of a push: one :class:`PushOutcome` per data row, in file order."""

    rows: list[PushOutcome]
    dry_run: bool
    errors: list[RowError] = field(default_factory=list)
    aborted: bool = False
    """The ``confirm`` callback declined: nothing was written (the rows show the plan)."""

    def _count(self, *actions: str) -> int:
        return sum(1 for r in self.rows if r.action in actions)

    @property
    def created(self) -> int:
        """Rows that created a lead (or would, in a dry run)."""
        return self._count("create")

    @property
    def updated(self) -> int:
        """Rows that updated a lead (or would)."""
        return self._count("update")

    @property
    def upserted(self) -> int:
        """Rows written by alternate key (Dataverse decided create or update)."""
        return self._count("upsert")

    @property
    def failed(self) -> int:
        """Rows Dataverse refused."""
        return self._count("failed")

    @property
    def invalid(self) -> int:
        """Rows skipped because they did not validate (``skip_invalid``)."""
        return self._count("invalid")

    @property
    def ok(self) -> bool:
        """True when no row failed or was invalid."""
        return not self.failed and not self.invalid

    def write_report(self, path: str | Path) -> None:
        """Write one line per row: JSON when ``path`` ends in ``.json``, else CSV."""
        target = Path(path)
        records = [asdict(r) for r in self.rows]
        if target.suffix.lower() == ".json":
            payload = {
                "dry_run": self.dry_run,
                "created": self.created,
                "updated": self.updated,
                "upserted": self.upserted,
                "failed": self.failed,
                "invalid": self.invalid,
                "rows": records,
            }
            target.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
            return
        fields = ["line", "action", "match", "id", "error"]
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(fields)
            # Cells echo the user's file (match values, error text): a "=cmd|..." cell must not
            # run as a formula when the report is opened in a spreadsheet.
            writer.writerows(neutralise_row(r[f] for f in fields) for r in records)
