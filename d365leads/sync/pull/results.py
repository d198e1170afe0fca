"""What a pull reports: per-table results, per-page progress, and the expired-token error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from d365leads.errors import SyncError
from d365leads.sync.state import Mode

__all__ = [
    "DeleteMode",
    "DeltaTokenExpiredError",
    "PageDone",
    "PullResult",
    "RawMode",
    "TableResult",
]


DeleteMode = Literal["tombstone", "remove"]

RawMode = Literal["full", "none"]
"""What a mirror keeps in ``_raw``: each row's JSON as it came (``full``, the default) or
nothing (``none``: a narrower mirror, the typed columns only)."""


class DeltaTokenExpiredError(SyncError):
    """The stored delta token expired and ``auto_resync`` is off: a full resync is needed."""

    def __init__(self, table: str) -> None:
        super().__init__(
            f"{table}: the change-tracking token has expired (older than the org's retention); "
            "nothing was changed. Run again with auto resync (the default) or --full to reload "
            "the table"
        )
        self.table = table


@dataclass
class TableResult:
    """What one table's pull did."""

    table: str
    mode: Mode
    kind: Literal["full", "incremental"]
    """The kind of the last pass (a resync after an expired token ends ``full``)."""
    upserted: int = 0
    """Rows written (created or changed)."""
    deleted: int = 0
    """Rows tombstoned or removed (delete entries plus rows a full pass did not see)."""
    unchanged: int = 0
    """Watermark mode: rows re-read in the overlap and skipped because they had not changed."""
    pages: int = 0
    resumed: bool = False
    """The run continued a pass an earlier run had left unfinished."""
    full_resync_reason: str | None = None
    deletes_captured: bool = True
    notices: list[str] = field(default_factory=list)


@dataclass
class PullResult:
    """What a pull did, per table."""

    tables: list[TableResult]
    target: str

    @property
    def upserted(self) -> int:
        """Rows written over all tables."""
        return sum(t.upserted for t in self.tables)

    @property
    def deleted(self) -> int:
        """Rows tombstoned or removed over all tables."""
        return sum(t.deleted for t in self.tables)


@dataclass(frozen=True)
class PageDone:
    """Progress: one page was committed."""

    table: str
    kind: Literal["full", "incremental"]
    page: int
    upserted: int
    deleted: int
    total_upserted: int
