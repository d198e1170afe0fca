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
* **A FetchXML mirror** (:func:`pull_fetchxml`): the rows of one query, by watermark pass plus a
  key reconciliation for deletes and rows that left the filter (:mod:`.fetch_pull`).

Every page's rows and the new sync position are committed in one transaction, so a crash at any
moment resumes from the last committed page with no row lost or written twice.
"""

from __future__ import annotations

from d365leads.sync.pull.fetch_pull import NO_TRACKING_NOTICE
from d365leads.sync.pull.fetch_run import DEFAULT_RECONCILE_EVERY, pull_fetchxml
from d365leads.sync.pull.read_ahead import prefetch
from d365leads.sync.pull.results import (
    DeleteMode,
    DeltaTokenExpiredError,
    PageDone,
    PullResult,
    TableResult,
)
from d365leads.sync.pull.run import DEFAULT_OVERLAP, pull
from d365leads.sync.pull.table_pull import is_expired_token_error

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_RECONCILE_EVERY",
    "NO_TRACKING_NOTICE",
    "DeleteMode",
    "DeltaTokenExpiredError",
    "PageDone",
    "PullResult",
    "TableResult",
    "is_expired_token_error",
    "prefetch",
    "pull",
    "pull_fetchxml",
]
