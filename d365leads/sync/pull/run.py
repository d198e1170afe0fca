"""``pull()``: check the arguments, then pull each table in turn."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone

from d365leads import _wire
from d365leads.errors import SyncError
from d365leads.sync._session import SessionSource, session_of
from d365leads.sync.pull.fetch_meta import fetch_mirror_tables
from d365leads.sync.pull.results import DeleteMode, PageDone, PullResult, RawMode, TableResult
from d365leads.sync.pull.table_pull import TablePull
from d365leads.sync.tables import TABLES, table_spec
from d365leads.sync.target import SyncTarget

__all__ = ["DEFAULT_OVERLAP", "pull"]


DEFAULT_OVERLAP = timedelta(minutes=5)
"""Watermark mode re-reads this much before the watermark to absorb late commits."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


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
    raw: RawMode = "full",
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
    ``raw="none"`` leaves ``_raw`` NULL (a narrower mirror: the typed columns only; rows are
    then not kept as text); changing it reloads the table in full.
    """
    session = session_of(source)
    if raw not in ("full", "none"):
        raise SyncError(f"raw must be 'full' or 'none', not {raw!r}")
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
    with target.begin() as conn:
        filtered = fetch_mirror_tables(conn) & {s.logical_name for s in specs}
    if filtered:
        raise SyncError(
            f"{', '.join(sorted(filtered))} in {target.url} mirrors a FetchXML query; pull it "
            "with --fetchxml FILE (library: pull_fetchxml), or mirror the whole table into "
            "another --db"
        )
    results: list[TableResult] = []
    for spec in specs:
        columns = spec.with_extras(c for t, c in extras if t in (None, spec.logical_name))
        job = TablePull(
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
            raw=raw,
        )
        results.append(job.run(full=full))
    return PullResult(results, target.url)
