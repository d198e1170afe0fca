"""What the mirror holds: per table, rows, tombstones, last sync time and mode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from d365leads.sync.pull.fetch_meta import fetch_mirror_tables, load_fetch_mirror
from d365leads.sync.state import load_positions
from d365leads.sync.target import SyncTarget

__all__ = ["TableStatus", "sync_status"]


@dataclass(frozen=True)
class TableStatus:
    """The state of one mirrored table."""

    table: str
    rows: int
    """Live rows (not deleted)."""
    tombstones: int
    """Rows deleted in Dataverse and kept with ``_deleted_at`` set."""
    mode: str | None
    """``delta`` (change tracking) or ``watermark`` (``modifiedon``; deletes not captured)."""
    last_sync_at: datetime | None
    last_full_sync_at: datetime | None
    phase: str
    """``idle``, or ``full``/``incremental`` while a pass is unfinished (the next run resumes)."""
    deletes_captured: bool
    last_error: str | None = None
    """Why the last run failed (cleared by the next successful pass)."""
    fetchxml_sha256: str | None = None
    """For a FetchXML mirror (``sync pull --fetchxml``): the SHA-256 of its query."""
    runs_since_reconcile: int | None = None
    """For a FetchXML mirror: finished runs since its last key reconciliation, the only pass
    that sees deletes and rows leaving the filter."""

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly dict (times in ISO 8601)."""
        return {
            "table": self.table,
            "rows": self.rows,
            "tombstones": self.tombstones,
            "mode": self.mode,
            "last_sync_at": self.last_sync_at.isoformat() if self.last_sync_at else None,
            "last_full_sync_at": (
                self.last_full_sync_at.isoformat() if self.last_full_sync_at else None
            ),
            "phase": self.phase,
            "deletes_captured": self.deletes_captured,
            "last_error": self.last_error,
            "fetchxml_sha256": self.fetchxml_sha256,
            "runs_since_reconcile": self.runs_since_reconcile,
        }


def sync_status(target: SyncTarget) -> list[TableStatus]:
    """One :class:`TableStatus` per table this database has synced (empty when none)."""
    if not target.has_state_table():
        return []
    with target.connect() as conn:
        positions = load_positions(conn)
        fetch = {t: load_fetch_mirror(conn, t) for t in fetch_mirror_tables(conn)}
    out: list[TableStatus] = []
    for pos in positions:
        rows, tombstones = target.count(pos.table_name)
        mirror = fetch.get(pos.table_name)
        out.append(
            TableStatus(
                table=pos.table_name,
                rows=rows,
                tombstones=tombstones,
                mode=pos.mode,
                last_sync_at=pos.last_sync_at,
                last_full_sync_at=pos.last_full_sync_at,
                phase=pos.phase,
                deletes_captured=pos.mode != "watermark",
                last_error=pos.last_error,
                fetchxml_sha256=mirror.fetchxml_sha256 if mirror else None,
                runs_since_reconcile=mirror.runs_since_reconcile if mirror else None,
            )
        )
    return out
