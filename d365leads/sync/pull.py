"""Pull Dataverse tables into a database: full load, then incremental through change tracking.

Per table:

* **First run** (or ``full=True``, or a changed column selection): a full pass with paging, sent
  with ``Prefer: odata.track-changes`` so the last page carries the delta link. Rows the pass
  does not see (deleted since the last pass) become tombstones (``_deleted_at``) or are removed.
* **Later runs, change tracking**: the stored delta link is replayed; new and changed rows are
  upserted and ``$deletedEntity`` entries become tombstones (or are removed).
  https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems
* **Later runs, no change tracking** (the full pass got no delta link, or the server refused
  ``odata.track-changes``): a ``modifiedon ge <watermark - overlap>`` query ordered by
  ``modifiedon``; re-read rows whose ``modifiedon`` is unchanged are skipped. Deletes are *not*
  captured in this mode (only a ``full`` pass notices them); the result says so.
* **Expired delta token**: announced, then answered with a full pass (unseen rows become
  tombstones).

Every page's rows and the new sync position are committed in one transaction, so a crash at any
moment resumes from the last committed page with no row lost or written twice.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy.engine import Connection

from d365leads import _wire
from d365leads.errors import BadRequestError, HTTPError, NotFoundError, SyncError
from d365leads.http.pipeline import ApiSession, Page
from d365leads.sync._session import SessionSource, session_of
from d365leads.sync.state import (
    Mode,
    SyncPosition,
    load_position,
    record_error,
    save_position,
)
from d365leads.sync.tables import (
    TABLES,
    ColumnSpec,
    TableSpec,
    deleted_id,
    row_builder,
    table_spec,
)
from d365leads.sync.target import SyncTarget

__all__ = [
    "DEFAULT_OVERLAP",
    "DeleteMode",
    "DeltaTokenExpiredError",
    "PageDone",
    "PullResult",
    "TableResult",
    "is_expired_token_error",
    "prefetch",
    "pull",
]

DeleteMode = Literal["tombstone", "remove"]
_Pass = Literal["full", "delta", "watermark"]
DEFAULT_OVERLAP = timedelta(minutes=5)
"""Watermark mode re-reads this much before the watermark to absorb late commits."""

_ANNOTATIONS = (
    'odata.include-annotations="OData.Community.Display.V1.FormattedValue,'
    'Microsoft.Dynamics.CRM.lookuplogicalname"'
)
_EXPIRED_MARKERS = ("expired", "version stamp")
_NO_TRACKING_MARKERS = ("change tracking", "track-changes", "track changes", "changetracking")


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


def is_expired_token_error(exc: HTTPError) -> bool:
    """True when Dataverse refused a delta link because its token is too old.

    The Web API status and code are not documented (the SDK message is "Version stamp
    associated with the client has expired. Please perform a full sync."), so the message is
    matched rather than a code.
    """
    if exc.status not in (400, 404, 410, 422):
        return False
    text = exc.message.lower()
    return any(marker in text for marker in _EXPIRED_MARKERS)


def _is_no_tracking_error(exc: HTTPError) -> bool:
    if exc.status not in (400, 403, 501):
        return False
    text = exc.message.lower()
    return any(marker in text for marker in _NO_TRACKING_MARKERS)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _as_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _odata_datetime(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_DONE: Any = object()


def prefetch(pages: Iterator[Page]) -> Iterator[Page]:
    """Yield ``pages`` while a worker thread fetches the next ones.

    At most one page waits to be consumed and one more is being fetched, so memory stays
    bounded by a few pages whatever the table size.

    Errors of the fetch are raised in the consumer, in order. When the consumer stops early
    the worker finishes its request in flight and ends; nothing is fetched after that.
    """
    slot: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def worker() -> None:
        try:
            for page in pages:
                slot.put((page, None))
                if stop.is_set():
                    return
            slot.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            slot.put((None, exc))

    thread = threading.Thread(target=worker, name="d365leads-sync-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            page, error = slot.get()
            if error is not None:
                raise error
            if page is _DONE:
                return
            yield page
    finally:
        stop.set()
        while thread.is_alive():
            # Free the slot so a worker blocked on put() can see the stop flag and end.
            try:
                slot.get_nowait()
            except queue.Empty:
                thread.join(0.01)


class _TablePull:
    """The pull of one table (one instance per table per run)."""

    def __init__(
        self,
        session: ApiSession,
        target: SyncTarget,
        spec: TableSpec,
        columns: Sequence[ColumnSpec],
        *,
        delete_mode: DeleteMode,
        page_size: int,
        overlap: timedelta,
        force_watermark: bool,
        clock: Callable[[], datetime],
        notify: Callable[[str, str], None] | None,
        progress: Callable[[PageDone], None] | None,
        prefetch: bool,
        auto_resync: bool,
    ) -> None:
        self.prefetch = prefetch
        self.auto_resync = auto_resync
        self.session = session
        self.target = target
        self.spec = spec
        self.columns = tuple(columns)
        self.delete_mode = delete_mode
        self.page_size = page_size
        self.overlap = overlap
        self.force_watermark = force_watermark
        self.clock = clock
        self._notify = notify
        self._progress = progress
        self.select = ",".join(
            dict.fromkeys([spec.primary_key, *(c.wire_property for c in self.columns)])
        )
        self.signature = ",".join(sorted(self.select.split(",")))
        self.table = target.mirror_table(spec, self.columns)
        self._build = row_builder(self.columns)
        self.result: TableResult | None = None

    # --- helpers -----------------------------------------------------------------------------

    def notice(self, message: str) -> None:
        assert self.result is not None
        self.result.notices.append(message)
        if self._notify is not None:
            self._notify(self.spec.logical_name, message)

    def _pages(
        self,
        path: str,
        *,
        params: dict[str, str] | None = None,
        page_size: int,
        prefer: list[str],
    ) -> Iterator[Page]:
        pages = self.session.iter_pages(path, params=params, page_size=page_size, prefer=prefer)
        return prefetch(pages) if self.prefetch else pages

    def _prefer(self, track: bool) -> list[str]:
        return [_ANNOTATIONS, _wire.PREFER_TRACK_CHANGES] if track else [_ANNOTATIONS]

    def _db_row(self, row: dict[str, Any], generation: int, now: datetime) -> dict[str, Any]:
        out = self._build(row)
        rid = row.get(self.spec.primary_key)
        if not rid:
            raise SyncError(
                f"a {self.spec.logical_name} row came back without its key "
                f"{self.spec.primary_key!r}; the mirror cannot store it"
            )
        out[self.spec.primary_key] = str(rid).lower()
        out["_raw"] = row
        out["_synced_at"] = now
        out["_deleted_at"] = None
        out["_sync_gen"] = generation
        return out

    def _split(self, rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        live: list[dict[str, Any]] = []
        gone: list[str] = []
        for row in rows:
            rid = deleted_id(row)
            if rid is not None:
                gone.append(rid)
            else:
                live.append(row)
        return live, gone

    def _track_newest(self, pos: SyncPosition, rows: Iterable[dict[str, Any]]) -> None:
        """Raise ``pos.pass_watermark`` to the newest ``modifiedon`` among stored ``rows``."""
        mod = self.spec.modified_column
        for row in rows:
            when = row.get(mod)
            if isinstance(when, datetime) and (
                pos.pass_watermark is None or when > pos.pass_watermark
            ):
                pos.pass_watermark = when

    def _unchanged_dropped(
        self, conn: Connection, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """``rows`` less those stored (not deleted) with the same ``modifiedon``."""
        mod = self.spec.modified_column
        pk = self.spec.primary_key
        stored = self.target.stored_values(conn, self.table, mod, [r[pk] for r in rows])
        changed = []
        for row in rows:
            seen = stored.get(row[pk], _MISSING)
            if seen is _MISSING or _as_utc(seen) != row.get(mod):
                changed.append(row)
        return changed

    def _commit_page(
        self, pos: SyncPosition, page: Page, pass_kind: _Pass, *, track: bool = False
    ) -> None:
        """Store one page and the position after it in one transaction; count and report it.

        ``track``: a full pass asked for change tracking (its last page may carry a delta link).
        """
        assert self.result is not None
        remove = self.delete_mode == "remove"
        now = self.clock()
        live, gone = self._split(page.rows)
        rows = [self._db_row(r, pos.generation, now) for r in live]
        removed = 0
        with self.target.begin() as conn:
            # Watermark mode re-reads the overlap: rows whose modifiedon is unchanged are skipped.
            changed = self._unchanged_dropped(conn, rows) if pass_kind == "watermark" else rows
            if pass_kind != "delta":
                self._track_newest(pos, changed)
            self.target.upsert(conn, self.table, changed)
            if pass_kind != "watermark":
                removed += self.target.delete_ids(conn, self.table, gone, at=now, remove=remove)
            pos.pass_rows += len(changed)
            if page.next_link:
                pos.phase = "full" if pass_kind == "full" else "incremental"
                pos.next_link = page.next_link
            else:
                pos.phase = "idle"
                pos.next_link = None
                if pass_kind == "full":
                    removed += self.target.sweep_unseen(
                        conn, self.table, pos.generation, at=now, remove=remove
                    )
                    if page.delta_link and track:
                        pos.mode = "delta"
                        pos.delta_link = page.delta_link
                        pos.watermark = pos.pass_watermark
                    else:
                        pos.mode = "watermark"
                        pos.delta_link = None
                        pos.watermark = pos.pass_watermark or pos.watermark
                    pos.last_full_sync_at = now
                elif pass_kind == "delta":
                    if page.delta_link:
                        pos.delta_link = page.delta_link
                else:
                    if pos.pass_watermark is not None and (
                        pos.watermark is None or pos.pass_watermark > pos.watermark
                    ):
                        pos.watermark = pos.pass_watermark
                    pos.pass_watermark = None
                pos.last_sync_at = now
                pos.last_error = None
            save_position(conn, pos)
        self.result.upserted += len(changed)
        self.result.deleted += removed
        self.result.unchanged += len(rows) - len(changed)
        self._report("full" if pass_kind == "full" else "incremental", len(changed), removed)

    def _report(self, kind: Literal["full", "incremental"], up: int, gone: int) -> None:
        assert self.result is not None
        self.result.pages += 1
        if self._progress is not None:
            self._progress(
                PageDone(
                    self.spec.logical_name, kind, self.result.pages, up, gone, self.result.upserted
                )
            )

    def _begin_full(self, pos: SyncPosition, reason: str) -> None:
        pos.phase = "full"
        # Every full pass probes change tracking again (it may have been enabled since).
        pos.mode = None
        pos.next_link = None
        pos.generation += 1
        pos.pass_started_at = self.clock()
        pos.pass_rows = 0
        pos.pass_watermark = None
        pos.select_signature = self.signature
        pos.last_error = None
        assert self.result is not None
        self.result.full_resync_reason = reason
        with self.target.begin() as conn:
            save_position(conn, pos)

    # --- the run -----------------------------------------------------------------------------

    def run(self, *, full: bool) -> TableResult:
        try:
            return self._run(full=full)
        except Exception as exc:
            # Keep the reason for `sync status`; the position stays at the last committed page.
            try:
                with self.target.begin() as conn:
                    record_error(conn, self.spec.logical_name, f"{type(exc).__name__}: {exc}")
            except SyncError:
                pass
            raise

    def _run(self, *, full: bool) -> TableResult:
        name = self.spec.logical_name
        with self.target.begin() as conn:
            stored = load_position(conn, name)
        pos = stored or SyncPosition(name, self.spec.entity_set, select_signature=self.signature)
        mode: Mode = pos.mode or ("watermark" if self.force_watermark else "delta")
        self.result = TableResult(name, mode, "full")
        if stored is None:
            self._begin_full(pos, "first load")
        elif full:
            self._begin_full(pos, "a full resync was requested")
        elif pos.select_signature != self.signature:
            self.notice(
                "the selected columns changed since the last sync; reloading the table in full "
                "so every row has them"
            )
            self._begin_full(pos, "the selected columns changed")
        elif self.force_watermark and pos.mode == "delta":
            self._begin_full(pos, "switched to watermark mode")
        elif pos.phase == "idle" and pos.mode is None:
            self._begin_full(pos, "no sync position was stored")
        else:
            self.result.resumed = pos.phase != "idle" and pos.next_link is not None
            if self.result.resumed:
                self.notice(f"resuming the unfinished {pos.phase} pass from its last saved page")

        for _ in range(4):  # a pass, plus at most a few restarts (expired token, stale link)
            try:
                if pos.phase == "full":
                    self._full_pass(pos)
                elif (pos.mode or mode) == "delta":
                    self._delta_pass(pos)
                else:
                    self._watermark_pass(pos)
                break
            except HTTPError as exc:
                if not isinstance(exc, (BadRequestError, NotFoundError)) and not (
                    is_expired_token_error(exc)
                ):
                    raise
                if pos.phase != "full" and pos.mode == "delta" and is_expired_token_error(exc):
                    if not self.auto_resync:
                        raise DeltaTokenExpiredError(name) from exc
                    self.notice(
                        "the change-tracking token has expired (older than the org's retention); "
                        "running a full resync: rows not seen in it will be "
                        + ("kept as tombstones" if self.delete_mode == "tombstone" else "removed")
                    )
                    self._begin_full(pos, "the delta token expired")
                elif pos.next_link is not None:
                    self.notice(
                        f"the saved page link was refused ({exc.message}); restarting this pass"
                    )
                    if pos.phase == "full":
                        self._begin_full(pos, "the saved page link was refused")
                    else:
                        pos.next_link = None
                        with self.target.begin() as conn:
                            save_position(conn, pos)
                elif pos.phase != "full" and pos.mode == "delta" and self.result.pages == 0:
                    self.notice(
                        f"the stored delta link was refused ({exc.message}); running a full resync"
                    )
                    self._begin_full(pos, "the stored delta link was refused")
                else:
                    raise
        else:
            raise SyncError(f"{name}: the sync could not settle after repeated restarts")
        self.result.mode = pos.mode or mode
        self.result.deletes_captured = self.result.mode == "delta"
        if not self.result.deletes_captured:
            self.notice(
                "this table has no change tracking: synced by the modifiedon watermark, so "
                "deletes are NOT captured (run with --full to find deleted rows)"
            )
        return self.result

    def _full_pass(self, pos: SyncPosition) -> None:
        assert self.result is not None
        self.result.kind = "full"
        track = not self.force_watermark and pos.mode != "watermark"
        if pos.next_link:
            pages = self._pages(pos.next_link, page_size=self.page_size, prefer=self._prefer(track))
        else:
            pages = self._pages(
                self.spec.entity_set,
                params={"$select": self.select},
                page_size=self.page_size,
                prefer=self._prefer(track),
            )
        try:
            for page in pages:
                self._commit_page(pos, page, "full", track=track)
        except HTTPError as exc:
            if track and pos.next_link is None and _is_no_tracking_error(exc):
                # The server refused odata.track-changes for this table: plain full load.
                pos.mode = "watermark"
                self._full_pass(pos)
                return
            raise

    def _delta_pass(self, pos: SyncPosition) -> None:
        assert self.result is not None
        self.result.kind = "incremental"
        link = pos.next_link or pos.delta_link
        if not link:
            self._begin_full(pos, "no delta link was stored")
            self._full_pass(pos)
            return
        if pos.next_link is None:
            pos.pass_rows = 0
        pages = self._pages(link, page_size=self.page_size, prefer=self._prefer(track=True))
        for page in pages:
            self._commit_page(pos, page, "delta")

    def _watermark_pass(self, pos: SyncPosition) -> None:
        assert self.result is not None
        self.result.kind = "incremental"
        if pos.watermark is None and pos.next_link is None:
            self._begin_full(pos, "no watermark was stored")
            pos.mode = "watermark"
            self._full_pass(pos)
            return
        if pos.next_link:
            pages = self._pages(
                pos.next_link, page_size=self.page_size, prefer=self._prefer(track=False)
            )
        else:
            pos.pass_rows = 0
            assert pos.watermark is not None
            since = pos.watermark - self.overlap
            mod = self.spec.modified_column
            pages = self._pages(
                self.spec.entity_set,
                params={
                    "$select": self.select,
                    "$filter": f"{mod} ge {_odata_datetime(since)}",
                    "$orderby": f"{mod} asc,{self.spec.primary_key} asc",
                },
                page_size=self.page_size,
                prefer=self._prefer(track=False),
            )
        for page in pages:
            self._commit_page(pos, page, "watermark")


_MISSING: Any = object()


def pull(
    source: SessionSource,
    target: SyncTarget,
    tables: Iterable[str] | None = None,
    *,
    select: Iterable[str] = (),
    full: bool = False,
    delete_mode: DeleteMode = "tombstone",
    page_size: int = _wire.MAX_PAGE_SIZE,
    overlap: timedelta = DEFAULT_OVERLAP,
    watermark_tables: Iterable[str] = (),
    clock: Callable[[], datetime] = _utc_now,
    notify: Callable[[str, str], None] | None = None,
    progress: Callable[[PageDone], None] | None = None,
    prefetch: bool = True,
    auto_resync: bool = True,
) -> PullResult:
    """Mirror ``tables`` (default: lead, account, contact, opportunity) into ``target``.

    ``source`` is a :class:`~d365leads.client.DataverseClient` (or its ``session``).

    ``select`` adds columns (logical names, or ``_x_value`` lookups) to the modelled ones;
    ``lead.new_score`` adds a column to one table only; a tenant column is stored as text
    unless typed: ``lead.new_score:int`` (see :data:`~d365leads.sync.tables.EXTRA_KINDS`;
    the database column keeps the type it was created with).
    ``delete_mode`` keeps deleted rows as tombstones (``_deleted_at`` set) or removes them.
    ``watermark_tables`` forces the ``modifiedon`` watermark for tables whose change tracking
    must not be used. ``notify(table, message)`` receives announcements (expired token,
    resumed pass, deletes not captured) and ``progress`` one :class:`PageDone` per committed page.
    ``prefetch`` reads the next page while the current one is written (a bounded read-ahead);
    positions are still only stored with committed pages. With ``auto_resync=False`` an expired
    delta token raises :class:`DeltaTokenExpiredError` instead of reloading the table.
    """
    session = session_of(source)
    if delete_mode not in ("tombstone", "remove"):
        raise SyncError(f"delete mode must be 'tombstone' or 'remove', not {delete_mode!r}")
    if not 1 <= page_size <= _wire.MAX_PAGE_SIZE:
        raise SyncError(f"page size must be 1 to {_wire.MAX_PAGE_SIZE}, got {page_size}")
    if overlap < timedelta(0):
        raise SyncError("the watermark overlap cannot be negative")
    names = list(tables) if tables is not None else list(TABLES)
    specs = list({s.logical_name: s for s in (table_spec(n) for n in names)}.values())
    if not specs:
        raise SyncError("no table to sync; pass at least one of " + ", ".join(TABLES))
    forced = {table_spec(n).logical_name for n in watermark_tables}
    extras: list[tuple[str | None, str]] = []
    for item in select:
        for part in item.split(","):
            if not part.strip():
                continue
            owner, _, column = part.strip().rpartition(".")
            extras.append((table_spec(owner).logical_name if owner else None, column))
    results: list[TableResult] = []
    for spec in specs:
        columns = spec.with_extras(c for t, c in extras if t in (None, spec.logical_name))
        job = _TablePull(
            session,
            target,
            spec,
            columns,
            delete_mode=delete_mode,
            page_size=page_size,
            overlap=overlap,
            force_watermark=spec.logical_name in forced,
            clock=clock,
            notify=notify,
            progress=progress,
            prefetch=prefetch,
            auto_resync=auto_resync,
        )
        results.append(job.run(full=full))
    return PullResult(results, target.url)
