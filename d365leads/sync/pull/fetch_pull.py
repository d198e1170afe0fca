"""The pull of a FetchXML mirror: a filtered copy of one table, kept by a watermark pass and a
key reconciliation.

Dataverse has no change tracking for a FetchXML query, so every run is a **watermark pass**:
the query's rows with ``modifiedon`` at or after the last watermark minus the overlap
(late commits, clock skew and rows sharing the boundary's timestamp are read again; rows whose
``modifiedon`` is unchanged are skipped), read in ``modifiedon`` order with the primary key as
the tiebreak and paged by cookie. Each page is committed with the position, and an interrupted
pass resumes from the newest ``modifiedon`` it committed (less the overlap).

A watermark cannot see a row that was deleted or that stopped matching the filter: those are
found by the **reconciliation pass**, which reads only the ids the query matches now (5,000 a
page), tombstones (or removes) the mirrored rows that are not among them and reads the rows
that match but are not mirrored (they entered the filter without a change of their own
``modifiedon``: a relative date condition, a change in a linked row). It runs with
``reconcile=True`` and on every ``reconcile_every``-th run; a full pass (the first load,
``full``, ``rebuild``) sweeps unseen rows itself. The ids of one reconciliation are held in
memory (a set of GUID strings, roughly 100 bytes per matching row).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from d365leads.errors import SyncError
from d365leads.fetchxml import iter_fetch_pages
from d365leads.http.pipeline import Page
from d365leads.sync.pull.fetch_meta import (
    FetchMirror,
    load_fetch_mirror,
    prepare_fetch_mirrors,
    save_fetch_mirror,
)
from d365leads.sync.pull.fetch_query import MirrorQuery
from d365leads.sync.pull.page_writer import page_writer
from d365leads.sync.pull.results import TableResult
from d365leads.sync.pull.table_pull import TablePull
from d365leads.sync.state import SyncPosition, load_position, save_position
from d365leads.sync.tables import PlannedRows

__all__ = ["NO_TRACKING_NOTICE", "FetchPull"]

NO_TRACKING_NOTICE = "no change tracking for a FetchXML mirror: watermark pass on modifiedon"
_MORE = "fetchxml: more pages follow"
"""Stored as the position's next link while a pass is under way (it resumes by watermark)."""
_BY_ID_CHUNK = 100
"""Ids per ``in`` condition when reading rows the watermark missed (keeps the URL short)."""


class FetchPull(TablePull):
    """The pull of one FetchXML mirror (one instance per run)."""

    def __init__(
        self,
        *args: Any,
        query: MirrorQuery,
        reconcile: bool,
        reconcile_every: int,
        rebuild: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.query = query
        self.reconcile = reconcile
        self.reconcile_every = reconcile_every
        self.rebuild = rebuild
        try:
            prepare_fetch_mirrors(self.target.engine)
        except SQLAlchemyError as exc:
            raise SyncError(f"cannot prepare {self.target.url}: {exc}") from exc

    # --- the run -----------------------------------------------------------------------------

    def _run(self, *, full: bool) -> TableResult:
        name = self.spec.logical_name
        with self.target.begin() as conn:
            stored = load_position(conn, name)
            mirror = load_fetch_mirror(conn, name)
        pos = stored or SyncPosition(name, self.spec.entity_set, select_signature=self.signature)
        self.result = TableResult(name, "watermark", "full")
        self.notice(NO_TRACKING_NOTICE)
        reason = self._full_reason(stored, mirror, full=full)
        if reason is not None:
            self._reset_for_full(pos, reason)
            pos.mode = "watermark"
            mirror = FetchMirror(
                name,
                self.query.digest,
                self.query.xml,
                0,
                mirror.last_reconcile_at if mirror is not None else None,
            )
            with self.target.begin() as conn:
                save_position(conn, pos)
                save_fetch_mirror(conn, mirror)
        else:
            assert mirror is not None
            self.result.resumed = pos.phase != "idle"
            if self.result.resumed:
                self.notice(f"resuming the unfinished {pos.phase} pass from its last saved page")
        ran_full = pos.phase == "full" or pos.watermark is None
        if ran_full and pos.phase != "full":
            # Nothing matched so far (no watermark yet): read everything again.
            self._reset_for_full(pos, "no watermark was stored")
            pos.mode = "watermark"
            with self.target.begin() as conn:
                save_position(conn, pos)
        self._pass(pos, "full" if ran_full else "watermark")
        self._after_pass(pos, mirror, ran_full=ran_full)
        self.result.mode = "watermark"
        return self.result

    def _full_reason(
        self, stored: SyncPosition | None, mirror: FetchMirror | None, *, full: bool
    ) -> str | None:
        name = self.spec.logical_name
        if stored is not None and mirror is None:
            if not self.rebuild:
                raise SyncError(
                    f"{name} in {self.target.url} mirrors the whole table, not a FetchXML query; "
                    "pass --rebuild to make it this query's mirror (rows outside the filter are "
                    "then tombstoned or removed), or mirror the query into another --db"
                )
            return "rebuilt from the FetchXML (--rebuild)"
        if mirror is not None and mirror.fetchxml_sha256 != self.query.digest:
            if not self.rebuild:
                raise SyncError(
                    f"the {name} mirror in {self.target.url} was built from another FetchXML "
                    f"(sha256 {mirror.fetchxml_sha256[:12]}, this one {self.query.digest[:12]}); "
                    "pass --rebuild to reload it from this query, or use another --db"
                )
            return "the FetchXML changed (--rebuild)"
        if stored is None:
            return "first load"
        if full or self.rebuild:
            return "a full resync was requested"
        if stored.select_signature != self.signature:
            return "the selected columns changed"
        return None

    def _pass(self, pos: SyncPosition, kind: Literal["full", "watermark"]) -> None:
        assert self.result is not None
        self.result.kind = "full" if kind == "full" else "incremental"
        if pos.phase == "idle":
            # A new watermark pass starts from the last finished one.
            pos.pass_rows = 0
            pos.pass_watermark = None
            start = pos.watermark
        else:
            start = pos.pass_watermark or (pos.watermark if kind == "watermark" else None)
        since = start - self.overlap if start is not None else None
        pages = iter_fetch_pages(
            self.session, self.spec.entity_set, self.query.since(since), page_size=self.page_size
        )
        with page_writer(self.prefetch) as submit:
            for page in pages:
                rows = self._unique(page.rows)
                page_of_rows = Page(rows, _MORE if page.more_records else None)
                self._commit_page(submit, pos, page_of_rows, kind)

    def _unique(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """One row per id (an outer join to many linked rows repeats the row)."""
        pk = self.spec.primary_key
        seen: dict[str, dict[str, Any]] = {}
        for row in rows:
            seen.setdefault(str(row.get(pk) or "").lower(), row)
        return list(seen.values())

    def _after_pass(self, pos: SyncPosition, mirror: FetchMirror, *, ran_full: bool) -> None:
        assert self.result is not None
        due = self.reconcile or (
            self.reconcile_every > 0 and mirror.runs_since_reconcile + 1 >= self.reconcile_every
        )
        if ran_full or due:
            if not ran_full:
                self._reconcile(pos)
            mirror.runs_since_reconcile = 0
            mirror.last_reconcile_at = self.clock()
            self.result.deletes_captured = True
        else:
            mirror.runs_since_reconcile += 1
            self.result.deletes_captured = False
            left = self.reconcile_every - mirror.runs_since_reconcile
            when = f"the next one runs in {left} run(s)" if self.reconcile_every else "off"
            self.notice(
                "rows deleted or no longer matching the FetchXML are found by the "
                f"reconciliation pass ({when}); run with --reconcile to run it now"
            )
        with self.target.begin() as conn:
            save_fetch_mirror(conn, mirror)

    # --- reconciliation ----------------------------------------------------------------------

    def _matching_ids(self) -> set[str]:
        pk = self.spec.primary_key
        found: set[str] = set()
        pages = iter_fetch_pages(
            self.session,
            self.spec.entity_set,
            self.query.ids(),
            page_size=self.page_size,
            annotations=False,
        )
        for page in pages:
            found.update(str(row[pk]).lower() for row in page.rows if row.get(pk))
        return found

    def _live_ids(self) -> set[str]:
        key = self.table.c[self.spec.primary_key]
        query = sa.select(key).where(self.table.c["_deleted_at"].is_(None))
        with self.target.connect() as conn:
            return {str(rid) for rid in conn.execute(query).scalars()}

    def _rows_by_id(self, ids: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(ids), _BY_ID_CHUNK):
            chunk = ids[start : start + _BY_ID_CHUNK]
            pages = iter_fetch_pages(self.session, self.spec.entity_set, self.query.by_ids(chunk))
            for page in pages:
                yield self._unique(page.rows)

    def _reconcile(self, pos: SyncPosition) -> None:
        assert self.result is not None
        matching = self._matching_ids()
        live = self._live_ids()
        missed = sorted(matching - live)
        read = 0
        for rows in self._rows_by_id(missed):
            now = self.clock()
            db_rows = [self._plan.row(row, row, pos.generation, now) for row in rows]
            with self.target.begin() as conn:
                self.target.upsert(
                    conn,
                    self.table,
                    PlannedRows(self._plan.keys, db_rows, stored=self._plan.stored_keys),
                )
            read += len(db_rows)
        gone = sorted(live - matching)
        with self.target.begin() as conn:
            removed = self.target.delete_ids(
                conn,
                self.table,
                gone,
                at=self.clock(),
                remove=self.delete_mode == "remove",
            )
        self.result.upserted += read
        self.result.deleted += removed
        self.notice(
            f"reconciliation: {len(matching)} rows match the FetchXML; {removed} no longer do "
            f"(deleted or out of the filter), {read} matched without a change the watermark "
            "could see and were read"
        )
