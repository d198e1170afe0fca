"""The pull of one table: its full, delta and watermark passes, one committed page at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy.engine import Connection

from d365leads import _wire
from d365leads.errors import BadRequestError, HTTPError, NotFoundError, SyncError
from d365leads.http.pipeline import ApiSession, Page
from d365leads.sync.pull.page_writer import Submit, page_writer
from d365leads.sync.pull.read_ahead import prefetch
from d365leads.sync.pull.results import (
    DeleteMode,
    DeltaTokenExpiredError,
    PageDone,
    RawMode,
    TableResult,
)
from d365leads.sync.state import (
    Mode,
    SyncPosition,
    load_position,
    record_error,
    save_position,
)
from d365leads.sync.tables import ColumnSpec, PlannedRows, RowPlan, TableSpec, deleted_id
from d365leads.sync.target import SyncTarget

__all__ = ["TablePull", "is_expired_token_error"]


_Pass = Literal["full", "delta", "watermark"]


_ANNOTATIONS = (
    'odata.include-annotations="OData.Community.Display.V1.FormattedValue,'
    'Microsoft.Dynamics.CRM.lookuplogicalname"'
)
_EXPIRED_MARKERS = ("expired", "version stamp")
_NO_TRACKING_MARKERS = ("change tracking", "track-changes", "track changes", "changetracking")


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


def _as_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _odata_datetime(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_MISSING: Any = object()
_NO_RAW = ";_raw=none"
_RAW_TEXT = ("_raw",)


class TablePull:
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
        raw: RawMode = "full",
    ) -> None:
        self.raw = raw
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
        # A mirror without _raw is another mirror: switching either way reloads the table. The
        # default's signature is the column list alone, as it always was.
        self.signature = ",".join(sorted(self.select.split(","))) + (
            _NO_RAW if raw == "none" else ""
        )
        self.table = target.mirror_table(spec, self.columns)
        # SQLite: the plan makes each value as the mirror stores it (no bind processor runs).
        self._plan = RowPlan(spec, self.columns, stored=target.dialect == "sqlite")
        key_at = self._plan.index(spec.primary_key)
        assert key_at is not None  # a plan always holds the primary key
        self._key_at = key_at
        self._modified_at = self._plan.index(spec.modified_column)
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
        pages = self.session.iter_pages(
            path, params=params, page_size=page_size, prefer=prefer, row_texts=self.raw == "full"
        )
        return prefetch(pages) if self.prefetch else pages

    def _prefer(self, track: bool) -> list[str]:
        return [_ANNOTATIONS, _wire.PREFER_TRACK_CHANGES] if track else [_ANNOTATIONS]

    def _split(self, page: Page) -> tuple[list[dict[str, Any]], list[Any], list[str], bool]:
        """The live rows of ``page``, what each stores as ``_raw``, the deleted ids, and
        whether ``_raw`` is JSON text.

        ``_raw`` is the row's JSON text as it came on the wire when the page reader kept it
        (nothing to encode again), else the parsed row.
        """
        rows = page.rows
        texts = page.row_texts
        raws: list[Any]
        if self.raw == "none":
            raws, as_text = [None] * len(rows), True  # bound as text: SQL NULL
        else:
            as_text = texts is not None and len(texts) == len(rows)
            raws = texts if as_text and texts is not None else rows
        live: list[dict[str, Any]] = []
        live_raws: list[Any] = []
        gone: list[str] = []
        for row, raw in zip(rows, raws, strict=True):
            rid = deleted_id(row)
            if rid is not None:
                gone.append(rid)
            else:
                live.append(row)
                live_raws.append(raw)
        return live, live_raws, gone, as_text

    def _track_newest(self, pos: SyncPosition, rows: Iterable[list[Any]]) -> None:
        """Raise ``pos.pass_watermark`` to the newest ``modifiedon`` among stored ``rows``."""
        at = self._modified_at
        if at is None:
            return
        # One column of one plan holds one type: datetimes, or (SQLite) their fixed-width UTC
        # text, which sorts as the times do; only the newest is read back as a time.
        newest = max((value for row in rows if (value := row[at]) is not None), default=None)
        when = self._plan.modified_time(newest)
        if when is not None and (pos.pass_watermark is None or when > pos.pass_watermark):
            pos.pass_watermark = when

    def _unchanged_dropped(self, conn: Connection, rows: list[list[Any]]) -> list[list[Any]]:
        """``rows`` less those stored (not deleted) with the same ``modifiedon``."""
        key_at, mod_at = self._key_at, self._modified_at
        stored = self.target.stored_values(
            conn, self.table, self.spec.modified_column, [r[key_at] for r in rows]
        )
        time_of = self._plan.modified_time
        changed = []
        for row in rows:
            seen = stored.get(row[key_at], _MISSING)
            if seen is _MISSING or _as_utc(seen) != (
                None if mod_at is None else time_of(row[mod_at])
            ):
                changed.append(row)
        return changed

    def _commit_page(
        self,
        submit: Submit,
        pos: SyncPosition,
        page: Page,
        pass_kind: _Pass,
        *,
        track: bool = False,
    ) -> None:
        """Build the database rows of one page, then ``submit`` its commit (:meth:`_store`).

        ``track``: a full pass asked for change tracking (its last page may carry a delta link).
        """
        now = self.clock()
        live, raws, gone, as_text = self._split(page)
        build, generation = self._plan.row, pos.generation  # fixed for the whole pass
        rows = [build(row, raw, generation, now) for row, raw in zip(live, raws, strict=True)]
        submit(lambda: self._store(pos, page, pass_kind, track, now, rows, gone, as_text))

    def _store(
        self,
        pos: SyncPosition,
        page: Page,
        pass_kind: _Pass,
        track: bool,
        now: datetime,
        rows: list[list[Any]],
        gone: list[str],
        as_text: bool,
    ) -> None:
        """Store one page's rows and the position after it in one transaction; count and
        report it (on the page writer, in page order)."""
        assert self.result is not None
        remove = self.delete_mode == "remove"
        removed = 0
        with self.target.begin() as conn:
            # Watermark mode re-reads the overlap: rows whose modifiedon is unchanged are skipped.
            changed = self._unchanged_dropped(conn, rows) if pass_kind == "watermark" else rows
            if pass_kind != "delta":
                self._track_newest(pos, changed)
            self.target.upsert(
                conn,
                self.table,
                PlannedRows(
                    self._plan.keys,
                    changed,
                    _RAW_TEXT if as_text else (),
                    self._plan.stored_keys,
                ),
            )
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
        self._reset_for_full(pos, reason)
        with self.target.begin() as conn:
            save_position(conn, pos)

    def _reset_for_full(self, pos: SyncPosition, reason: str) -> None:
        """Set ``pos`` to the start of a new full pass (the caller saves it)."""
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
        elif (pos.select_signature or "").removesuffix(_NO_RAW) == self.signature.removesuffix(
            _NO_RAW
        ) and pos.select_signature != self.signature:
            self.notice(f"_raw is now {self.raw!r}; reloading the table in full")
            self._begin_full(pos, "the _raw setting changed")
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
            with page_writer(self.prefetch) as submit:
                for page in pages:
                    self._commit_page(submit, pos, page, "full", track=track)
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
        with page_writer(self.prefetch) as submit:
            for page in pages:
                self._commit_page(submit, pos, page, "delta")

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
        with page_writer(self.prefetch) as submit:
            for page in pages:
                self._commit_page(submit, pos, page, "watermark")
