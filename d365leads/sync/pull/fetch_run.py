"""``pull_fetchxml()``: mirror the rows of one FetchXML query (see :mod:`.fetch_pull`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from d365leads import _wire
from d365leads.errors import SyncError
from d365leads.sync._session import SessionSource, session_of
from d365leads.sync.pull.fetch_pull import FetchPull
from d365leads.sync.pull.fetch_query import prepare_mirror_query
from d365leads.sync.pull.results import DeleteMode, PageDone, PullResult
from d365leads.sync.pull.run import DEFAULT_OVERLAP
from d365leads.sync.target import SyncTarget

__all__ = ["DEFAULT_RECONCILE_EVERY", "pull_fetchxml"]

DEFAULT_RECONCILE_EVERY = 10
"""A FetchXML mirror reconciles its keys on every 10th run unless told otherwise."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def pull_fetchxml(
    source: SessionSource,
    target: SyncTarget,
    xml: str,
    *,
    table: str | None = None,
    full: bool = False,
    rebuild: bool = False,
    reconcile: bool = False,
    reconcile_every: int = DEFAULT_RECONCILE_EVERY,
    delete_mode: DeleteMode = "tombstone",
    page_size: int = _wire.MAX_PAGE_SIZE,
    overlap: timedelta = DEFAULT_OVERLAP,
    clock: Callable[[], datetime] = _utc_now,
    notify: Callable[[str, str], None] | None = None,
    progress: Callable[[PageDone], None] | None = None,
) -> PullResult:
    """Mirror the rows the FetchXML query ``xml`` returns into ``target`` (a filtered mirror).

    The mirror is the table of the query's ``<entity>`` (one of lead, account, contact,
    opportunity; ``table``, when given, must be the same). The query is checked before
    anything is sent: well-formed (the error names the line), a row query (no aggregate, no
    ``top``), its table's own columns unaliased; ``modifiedon`` and the primary key are added
    when missing, and its ``<order>`` is replaced by ``modifiedon``, then the primary key.

    A FetchXML query has no change tracking: each run is a ``modifiedon`` watermark pass (with
    ``overlap``), and rows that were deleted or left the filter are found by a key
    reconciliation that runs with ``reconcile=True`` or every ``reconcile_every`` runs
    (``0``: only when asked); see :mod:`d365leads.sync.pull.fetch_pull`. ``full`` reloads
    every row. The mirror remembers the query's hash: another query on an existing mirror is
    an error unless ``rebuild`` (a full pass with the new query; rows outside it are then
    tombstoned or removed, per ``delete_mode``).

    :raises InvalidInputError: the XML is not well-formed; nothing was sent.
    :raises SyncError: a query no mirror can follow, or one that differs from the mirror's.
    """
    session = session_of(source)
    if delete_mode not in ("tombstone", "remove"):
        raise SyncError(f"delete mode must be 'tombstone' or 'remove', not {delete_mode!r}")
    if not 1 <= page_size <= _wire.MAX_PAGE_SIZE:
        raise SyncError(f"page size must be 1 to {_wire.MAX_PAGE_SIZE}, got {page_size}")
    if overlap < timedelta(0):
        raise SyncError("the watermark overlap cannot be negative")
    if reconcile_every < 0:
        raise SyncError("reconcile_every must be 0 (only when asked) or a number of runs")
    query = prepare_mirror_query(xml, table)
    job = FetchPull(
        session,
        target,
        query.spec,
        query.columns,
        delete_mode=delete_mode,
        page_size=page_size,
        overlap=overlap,
        force_watermark=True,
        clock=clock,
        notify=notify,
        progress=progress,
        prefetch=False,
        auto_resync=True,
        query=query,
        reconcile=reconcile,
        reconcile_every=reconcile_every,
        rebuild=rebuild,
    )
    return PullResult([job.run(full=full)], target.url)
