"""Send records through a bulk operation message, chunk by chunk, with the ``$batch`` fallback.

For each chunk (size from :class:`~d365leads.multiple.sizing.ChunkSizer`):

1. if the table supports the message (:class:`~d365leads.multiple.support.MessageSupport`),
   send ``POST <set>/Microsoft.Dynamics.CRM.<Message>`` with ``Targets``;
2. on standard tables a bulk request is all or nothing, so when it fails with an error answer
   the chunk is re-sent as a ``$batch`` of single operations with
   ``Prefer: odata.continue-on-error``: the bad records get their own errors and the rest are
   written (Microsoft's advice for a failed bulk request,
   https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations#standard-and-elastic-table-usage);
3. tables without the message get the ``$batch`` path from the start.

Chunks go out on up to ``max_workers`` threads (default: the org's ``x-ms-dop-hint``, at most
8); each new chunk is cut at the size adapted so far.  The ``$batch`` path of a table without
the message runs its batches on as many threads; a failed chunk's ``$batch`` stays on the
thread that sent the chunk.

UpdateMultiple with ``statecode``/``statuscode``: whether the org accepts it is not documented.
The first such record of a table is sent alone in an UpdateMultiple; if that fails and the same
record then succeeds in ``$batch``, the table's state changes go through ``$batch`` from then
on; if it succeeds, through UpdateMultiple.  The outcome of every record names its path.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from d365leads import _wire
from d365leads.batch import BatchRequest
from d365leads.errors import (
    HTTPError,
    InvalidInputError,
    PermissionDeniedError,
    UnauthorizedError,
)
from d365leads.multiple.results import ManyResult, Path, RecordOutcome
from d365leads.multiple.sizing import ChunkSizer
from d365leads.multiple.support import MessageSupport

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["BYPASS_CUSTOM_LOGIC", "BulkItem", "BulkWriter"]

BYPASS_CUSTOM_LOGIC = {"MSCRM.BypassBusinessLogicExecution": "CustomSync,CustomAsync"}
"""Skip synchronous and asynchronous custom logic (plug-ins, workflows); the caller needs the
``prvBypassCustomBusinessLogic`` privilege
(https://learn.microsoft.com/power-apps/developer/data-platform/bypass-custom-business-logic)."""

_STATE_COLUMNS = ("statecode", "statuscode")
_MAX_AUTO_WORKERS = 8


@dataclass
class BulkItem:
    """One record to send: its bulk-message target and its single-operation equivalent.

    ``method``/``path``/``body`` are the ``$batch`` operation (``POST <set>`` for a create,
    ``PATCH <set>(<key>)`` for an update or upsert; ``if_match`` ``*`` for updates).
    """

    index: int
    target: dict[str, Any]
    method: str
    path: str
    body: dict[str, Any]
    id: str | None = None
    if_match: str | None = None
    changes_state: bool = field(init=False)

    def __post_init__(self) -> None:
        self.changes_state = any(c in self.body for c in _STATE_COLUMNS)


class BulkWriter:
    """Writes :class:`BulkItem` s of one message to one table (see the module docstring)."""

    def __init__(
        self,
        session: ApiSession,
        support: MessageSupport,
        *,
        message: str,
        entity_set: str,
        table: str,
        chunk_size: int,
        bypass_custom_logic: bool = False,
        max_workers: int | None = None,
    ) -> None:
        self._session = session
        self._support = support
        self.message = message
        self.entity_set = entity_set
        self.table = table
        self.sizer = ChunkSizer(chunk_size)
        self._headers = dict(BYPASS_CUSTOM_LOGIC) if bypass_custom_logic else {}
        self.requests: Counter[str] = Counter()
        self._outcomes: list[RecordOutcome] = []
        self._lock = threading.Lock()
        if max_workers is not None and max_workers < 1:
            raise InvalidInputError(f"max_workers must be at least 1, got {max_workers}")
        self._max_workers = max_workers

    def run(self, items: Sequence[BulkItem]) -> ManyResult:
        """Send every item; one outcome per item, in input order."""
        queue = list(items)
        if queue and not self._support.supports(self.table, self.message):
            self._batched(queue, parallel=True)
            return self._result()
        if self.message == "UpdateMultiple":
            queue = self._route_state_changes(queue)
        workers = self._workers()
        if workers == 1:
            while queue:
                chunk, queue = queue[: self.sizer.size], queue[self.sizer.size :]
                self._send_message(chunk)
            return self._result()
        # Up to `workers` chunks in flight; each new chunk is cut at the size adapted so far.
        # The session's throttle gate pauses every thread while a Retry-After runs.
        with ThreadPoolExecutor(workers, thread_name_prefix="d365leads-many") as pool:
            running: set[Future[None]] = set()
            while queue or running:
                while queue and len(running) < workers:
                    with self._lock:
                        size = self.sizer.size
                    chunk, queue = queue[:size], queue[size:]
                    running.add(pool.submit(self._send_message, chunk))
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
        return self._result()

    def _workers(self) -> int:
        if self._max_workers is not None:
            return self._max_workers
        # As many as Dataverse recommends (x-ms-dop-hint, seen on the support probe), capped.
        return max(1, min(self._session.throttle.dop_hint or 1, _MAX_AUTO_WORKERS))

    def _result(self) -> ManyResult:
        with self._lock:
            return ManyResult(list(self._outcomes), Counter(self.requests))

    # --- state changes in UpdateMultiple (UNCONFIRMED in Dataverse's docs) ----------------

    def _route_state_changes(self, items: list[BulkItem]) -> list[BulkItem]:
        plain = [i for i in items if not i.changes_state]
        state = [i for i in items if i.changes_state]
        while state and self._support.state_in_update_multiple(self.table) is None:
            probe, state = state[0], state[1:]
            if self._try_message([probe]):
                self._support.learn_state(self.table, True)
                continue
            outcome = self._batched([probe])[0]
            if outcome.ok:
                self._support.learn_state(self.table, False)
        if state and self._support.state_in_update_multiple(self.table) is False:
            self._batched(state, parallel=True)
            state = []
        return sorted(plain + state, key=lambda i: i.index)

    # --- the bulk message ------------------------------------------------------------------

    def _send_message(self, chunk: list[BulkItem]) -> None:
        if not self._try_message(chunk):
            self._batched(chunk)

    def _try_message(self, chunk: list[BulkItem]) -> bool:
        """Send ``chunk`` in one bulk request; True if written, False if it was refused."""
        throttled = self._session.throttle.throttled
        with self._lock:
            self.requests[self.message] += 1
        try:
            response = self._session.request(
                "POST",
                f"{self.entity_set}/Microsoft.Dynamics.CRM.{self.message}",
                json={"Targets": [item.target for item in chunk]},
                headers=self._headers,
            )
        except (UnauthorizedError, PermissionDeniedError):
            raise
        except HTTPError:
            self._feedback(throttled)
            return False
        self._feedback(throttled)
        ids: list[Any] = []
        if self.message != "UpdateMultiple":
            body = response.json() if response.content else {}
            found = body.get("Ids") if isinstance(body, dict) else None
            ids = found if isinstance(found, list) else []
        done = []
        for n, item in enumerate(chunk):
            record_id = str(ids[n]).lower() if n < len(ids) and ids[n] else item.id
            done.append(RecordOutcome(item.index, record_id, True, self._path()))
        with self._lock:
            self._outcomes.extend(done)
        return True

    def _feedback(self, throttled_before: int) -> None:
        congested = self._session.throttle.throttled > throttled_before
        with self._lock:
            self.sizer.feedback(congested=congested)

    def _path(self) -> Path:
        if self.message == "CreateMultiple":
            return "CreateMultiple"
        return "UpdateMultiple" if self.message == "UpdateMultiple" else "UpsertMultiple"

    # --- the $batch fallback ---------------------------------------------------------------

    def _batched(self, items: list[BulkItem], *, parallel: bool = False) -> list[RecordOutcome]:
        """Send ``items`` as ``$batch`` requests; with ``parallel``, up to :meth:`_workers` at once.

        Only the top-level paths run in parallel: a failed chunk re-sent from a worker thread
        stays on that thread, so the requests in flight never exceed the worker count.
        """
        step = min(self.sizer.size, _wire.MAX_BATCH_OPERATIONS)
        groups = [items[start : start + step] for start in range(0, len(items), step)]
        workers = min(self._workers(), len(groups)) if parallel else 1
        done: list[RecordOutcome] = []
        if workers <= 1:
            for group in groups:
                done.extend(self._one_batch(group))
        else:
            # At most `workers` batches submitted at a time: no queue of pending requests.
            with ThreadPoolExecutor(workers, thread_name_prefix="d365leads-many-batch") as pool:
                waiting = iter(groups)
                running: set[Future[list[RecordOutcome]]] = set()
                while True:
                    for group in waiting:
                        running.add(pool.submit(self._one_batch, group))
                        if len(running) >= workers:
                            break
                    if not running:
                        break
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done.extend(future.result())
        with self._lock:
            self._outcomes.extend(done)
        return done

    def _one_batch(self, items: list[BulkItem]) -> list[RecordOutcome]:
        batch = BatchRequest(self._session, continue_on_error=True)
        for item in items:
            headers = dict(self._headers)
            if item.if_match is not None:
                headers["If-Match"] = item.if_match
            batch.add(item.method, item.path, item.body, headers=headers or None)
        with self._lock:
            self.requests["$batch"] += 1
        results = batch.execute()
        out: list[RecordOutcome] = []
        for item, result in zip(items, results, strict=True):
            if result.ok:
                record_id = result.entity_id or item.id
                out.append(RecordOutcome(item.index, record_id, True, "$batch", result.status))
                continue
            error = result.error
            out.append(
                RecordOutcome(
                    item.index,
                    item.id,
                    False,
                    "$batch",
                    result.status,
                    error.code if error is not None else "",
                    str(error) if error is not None else "no answer for this operation",
                )
            )
        return out
