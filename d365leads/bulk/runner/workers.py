"""What a worker does with a task: send a ``$batch`` of items, or re-read items of unknown outcome.

Every item is committed to the journal as ``inflight`` before its batch is sent, and its outcome
when the answer arrives. An unknown outcome (timeout, reset, 5xx, an answer cut short) is never
answered by sending again: the items go to the verify queue and are re-read first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from d365leads.batch import BatchRequest, OperationResult
from d365leads.bulk.journal import ItemOutcome, ItemRow, JobInfo
from d365leads.bulk.journal_protocol import JobJournal
from d365leads.bulk.planner import BulkAction
from d365leads.bulk.runner.options import RunOptions
from d365leads.bulk.runner.scheduler import Scheduler
from d365leads.bulk.selection import LeadSnapshot, fetch_leads, find_originated_opportunities
from d365leads.errors import (
    BatchError,
    BulkJobError,
    HTTPError,
    MalformedBatchResponseError,
    PermissionDeniedError,
    ServerError,
    ThrottledError,
    TransportError,
    UnauthorizedError,
)
from d365leads.multiple.support import MessageSupport
from d365leads.multiple.writer import BYPASS_CUSTOM_LOGIC

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["BatchWorker"]

_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class BatchWorker:
    """Carries out write and verify tasks of one job; shared by the worker threads.

    ``attempts`` counts the sends per lead (a lead's entry is touched by one thread at a time,
    since a lead is in at most one task).
    """

    def __init__(
        self,
        session: ApiSession,
        journal: JobJournal,
        job: JobInfo,
        options: RunOptions,
        scheduler: Scheduler,
    ) -> None:
        self._session = session
        self._journal = journal
        self._job = job
        self._spec = job.spec
        self._options = options
        self._scheduler = scheduler
        self.attempts: dict[str, int] = {}
        self.identity: str | None = None
        """The identity sending the writes, recorded on each item (None: the only one)."""
        self._fields = self._spec.action.changes_fields
        self._headers = dict(BYPASS_CUSTOM_LOGIC) if self._spec.bypass_custom_logic else {}
        self._support = MessageSupport(session)

    def _adapt(self, epoch: int, *, congested: bool) -> None:
        self._scheduler.adapt(
            epoch, congested=congested, throttled=self._session.throttle.throttled
        )

    def _count_error(self, exc: BaseException) -> None:
        self._scheduler.count_error(getattr(exc, "code", "") or type(exc).__name__)

    # writing

    def _add_operation(self, batch: BatchRequest, row: ItemRow) -> None:
        spec = self._spec
        headers = self._headers or None
        if self._fields:
            batch.patch(f"leads({row.lead_id})", spec.body, headers=headers)
        elif spec.action is BulkAction.QUALIFY:
            body: dict[str, Any] = {
                "CreateAccount": spec.create_account,
                "CreateContact": spec.create_contact,
                "CreateOpportunity": spec.create_opportunity,
                "Status": spec.status,
            }
            if spec.currency_id:
                body["OpportunityCurrencyId"] = {
                    "@odata.type": "Microsoft.Dynamics.CRM.transactioncurrency",
                    "transactioncurrencyid": spec.currency_id,
                }
            batch.post(
                f"leads({row.lead_id})/Microsoft.Dynamics.CRM.QualifyLead", body, headers=headers
            )
        else:
            batch.patch(
                f"leads({row.lead_id})",
                {"statecode": row.target_state, "statuscode": row.target_status},
                headers=headers,
            )

    def _begin(self, rows: list[ItemRow]) -> None:
        self._journal.mark_inflight(
            self._job.job_id, [r.lead_id for r in rows], identity=self.identity
        )
        for row in rows:
            self.attempts[row.lead_id] = self.attempts.get(row.lead_id, 0) + 1

    def _unknown(self, rows: list[ItemRow]) -> None:
        """Items whose outcome is unknown: re-read them first (a field write is sent again:
        writing the same values twice is harmless)."""
        if self._fields:
            self._retry_or_fail(rows, None)
        else:
            self._scheduler.requeue(rows, reread=True)

    def _update_multiple(self) -> bool:
        try:
            return self._support.supports("lead", "UpdateMultiple")
        except (TransportError, ServerError, ThrottledError) as exc:
            self._count_error(exc)  # not cached: asked again with the next chunk
            return False

    def write(self, rows: list[ItemRow], epoch: int) -> None:
        """Send ``rows`` (an UpdateMultiple or a ``$batch``) and record what the answer proves."""
        if self._fields and self._update_multiple():
            self._write_multiple(rows, epoch)
            return
        self._begin(rows)
        self._write_batch(rows, epoch)

    def _write_multiple(self, rows: list[ItemRow], epoch: int) -> None:
        """A field job's chunk in one UpdateMultiple; all or nothing, so a refused chunk is
        sent again as a ``$batch`` to find the records at fault and write the others
        (https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations)."""
        self._begin(rows)
        body = self._spec.body
        targets = [
            {"@odata.type": "Microsoft.Dynamics.CRM.lead", **body, "leadid": row.lead_id}
            for row in rows
        ]
        self._scheduler.count_request(len(rows))
        try:
            self._session.request(
                "POST",
                "leads/Microsoft.Dynamics.CRM.UpdateMultiple",
                json={"Targets": targets},
                headers=self._headers,
                idempotent=False,
                retry=False,
            )
        except ThrottledError as exc:
            self._count_error(exc)
            self._adapt(epoch, congested=True)
            for row in rows:
                self.attempts[row.lead_id] -= 1
            self._retry_or_fail(rows, exc)
            return
        except (TransportError, ServerError) as exc:
            self._count_error(exc)
            self._adapt(epoch, congested=True)
            self._unknown(rows)
            return
        except (UnauthorizedError, PermissionDeniedError):
            raise
        except HTTPError as exc:
            self._count_error(exc)
            self._write_batch(rows, epoch)
            return
        outcomes = [
            ItemOutcome(
                row.lead_id,
                "done",
                http_status=204,
                after_state=row.target_state,
                after_status=row.target_status,
                path="UpdateMultiple",
            )
            for row in rows
        ]
        self._journal.record(self._job.job_id, outcomes)
        self._scheduler.tally(outcomes)
        self._adapt(epoch, congested=False)

    def _write_batch(self, rows: list[ItemRow], epoch: int) -> None:
        """Send ``rows`` as one ``$batch`` (already marked in flight)."""
        job_id = self._job.job_id
        batch = BatchRequest(self._session, continue_on_error=True)
        for row in rows:
            self._add_operation(batch, row)
        self._scheduler.count_request(len(rows))
        result: Sequence[OperationResult]
        try:
            # The runner, not the session, decides about re-sending: an unknown outcome (timeout,
            # reset, 5xx) is answered by re-reading the records (see check), and after a 429
            # the batch goes back to the queue so the workers restart one at a time.
            result = batch.execute(idempotent=False, retry=False)
        except ThrottledError as exc:
            # A 429 proves nothing was processed, so the batch is sent again without a re-read;
            # the send does not count as an attempt.
            self._count_error(exc)
            self._adapt(epoch, congested=True)
            for row in rows:
                self.attempts[row.lead_id] -= 1
            self._retry_or_fail(rows, exc)
            return
        except MalformedBatchResponseError as exc:
            # An answer cut short, or with too few parts: the parts that did arrive are
            # recorded as usual; the operations without one are re-read below, never re-sent.
            self._count_error(exc)
            if len(exc.results) != len(rows):
                self._adapt(epoch, congested=True)
                self._unknown(rows)
                return
            result = exc.results
        except (TransportError, ServerError, BatchError) as exc:
            self._count_error(exc)
            self._adapt(epoch, congested=True)
            self._unknown(rows)
            return
        outcomes: list[ItemOutcome] = []
        unknown: list[ItemRow] = []
        resend: list[ItemRow] = []
        refused: list[tuple[ItemRow, OperationResult]] = []
        congested = False
        for row, part in zip(rows, result, strict=True):
            if part.ok:
                outcomes.append(
                    ItemOutcome(
                        row.lead_id,
                        "done",
                        http_status=part.status,
                        after_state=row.target_state,
                        after_status=row.target_status,
                        path="$batch",
                    )
                )
            elif part.status == 429:
                # Refused by service protection: not applied, so sent again without a re-read.
                congested = True
                resend.append(row)
            elif not part.executed:
                # With continue-on-error every operation is answered: a missing answer means the
                # response was incomplete, not that the operation was skipped.
                unknown.append(row)
            elif part.status in _TRANSIENT_STATUSES:
                congested = True
                unknown.append(row)
            else:
                refused.append((row, part))
        if self._fields:  # the lead's state says nothing about a refused field write
            outcomes.extend(self._failure(row, part) for row, part in refused)
        else:
            outcomes.extend(self._settle_refusals(refused))
        self._journal.record(job_id, outcomes)
        self._scheduler.tally(outcomes)
        self._adapt(epoch, congested=congested)
        if unknown:
            self._unknown(unknown)
        if resend:
            self._retry_or_fail(resend, None)

    def _settle_refusals(
        self, refused: Sequence[tuple[ItemRow, OperationResult]]
    ) -> list[ItemOutcome]:
        """Record refused operations as failed, unless the lead is already in its target state.

        A lead that someone else closed (or a previous attempt whose answer was lost) is
        refused with "already closed"; it has reached the target, so the job counts it done.
        """
        if not refused:
            return []
        try:
            self._scheduler.count_request()
            current = fetch_leads(self._session, [row.lead_id for row, _ in refused])
        except (TransportError, ServerError, ThrottledError, BatchError) as exc:
            self._count_error(exc)
            current = {}
        outcomes: list[ItemOutcome] = []
        for row, part in refused:
            lead = current.get(row.lead_id)
            if lead is not None and lead.statecode == row.target_state:
                outcomes.append(
                    ItemOutcome(
                        row.lead_id,
                        "done",
                        http_status=part.status,
                        after_state=lead.statecode,
                        after_status=lead.statuscode,
                    )
                )
            else:
                outcomes.append(self._failure(row, part, lead))
        return outcomes

    def _failure(
        self, row: ItemRow, part: OperationResult, lead: LeadSnapshot | None = None
    ) -> ItemOutcome:
        error = part.error
        code = error.code if error is not None else ""
        message = error.message if error is not None else f"HTTP {part.status}"
        self._scheduler.count_error(code or f"HTTP {part.status}")
        return ItemOutcome(
            row.lead_id,
            "failed",
            http_status=part.status,
            error_code=code or None,
            error_message=message,
            after_state=lead.statecode if lead is not None else None,
            after_status=lead.statuscode if lead is not None else None,
            path="$batch",
        )

    def _retry_or_fail(self, rows: Sequence[ItemRow], exc: BaseException | None) -> None:
        """Put rows back for another send, failing those out of attempts.

        Only for rows known not to be applied (throttled, or found unchanged by a re-read):
        an unknown outcome goes to :meth:`check` first.
        """
        again: list[ItemRow] = []
        failed: list[ItemOutcome] = []
        pending: list[ItemOutcome] = []
        for row in rows:
            if self.attempts.get(row.lead_id, 0) >= self._options.max_attempts:
                reason = str(exc) if exc is not None else "throttled, or not applied"
                failed.append(
                    ItemOutcome(
                        row.lead_id,
                        "failed",
                        http_status=getattr(exc, "status", None),
                        error_code=getattr(exc, "code", None) or None,
                        error_message=f"gave up after {self._options.max_attempts} attempts: "
                        f"{reason}",
                    )
                )
            else:
                again.append(row)
                pending.append(ItemOutcome(row.lead_id, "pending"))
        self._journal.record(self._job.job_id, failed + pending)
        self._scheduler.tally(failed)
        if again:
            self._scheduler.requeue(again, reread=False)

    # verifying unknown outcomes

    def check(self, rows: list[ItemRow], epoch: int) -> None:
        """Re-read items whose outcome is unknown; settle them or put them back to send."""
        if self._fields:  # found in flight on resume: the same values are simply sent again
            self._retry_or_fail(rows, None)
            return
        ids = [r.lead_id for r in rows]
        self._scheduler.count_request()
        try:
            current = fetch_leads(self._session, ids)
            originated: set[str] = set()
            if self._spec.action is BulkAction.QUALIFY and self._spec.create_opportunity:
                not_qualified = [i for i in ids if i in current and current[i].statecode != 1]
                if not_qualified:
                    self._scheduler.count_request()
                    originated = find_originated_opportunities(self._session, not_qualified)
        except (TransportError, ServerError, ThrottledError) as exc:
            self._count_error(exc)
            if self._scheduler.verify_failed() > self._options.max_verify_failures:
                raise BulkJobError(
                    f"cannot re-read {len(ids)} leads whose outcome is unknown ({exc}); "
                    "the journal keeps them in flight: resume the job later"
                ) from exc
            self._adapt(epoch, congested=True)
            self._scheduler.requeue(rows, reread=True)
            return
        self._scheduler.verify_succeeded(len(rows))
        outcomes: list[ItemOutcome] = []
        resend: list[ItemRow] = []
        for row in rows:
            lead = current.get(row.lead_id)
            if lead is None:
                outcomes.append(
                    ItemOutcome(
                        row.lead_id,
                        "failed",
                        http_status=404,
                        error_message="the lead no longer exists (found missing on re-read)",
                    )
                )
            elif lead.statecode == row.target_state or row.lead_id in originated:
                outcomes.append(
                    ItemOutcome(
                        row.lead_id,
                        "done",
                        after_state=lead.statecode,
                        after_status=lead.statuscode,
                    )
                )
            else:
                resend.append(row)
        self._journal.record(self._job.job_id, outcomes)
        self._scheduler.tally(outcomes)
        if resend:  # just re-read: not applied
            self._retry_or_fail(resend, None)
