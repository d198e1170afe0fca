"""Run (or resume) a planned bulk job: concurrent ``$batch`` writers with adaptive limits.

How it behaves:

* Work is cut into ``$batch`` requests of independent operations sent with
  ``Prefer: odata.continue-on-error``, so one bad record never fails its neighbours.  State
  changes are ``PATCH statecode/statuscode`` with ``If-Match: *``; qualification is the bound
  ``QualifyLead`` action, one operation per lead, inside the same kind of batch.
* Worker threads share the client's session and its :class:`~d365leads.http.throttle.ThrottleState`:
  a 429 pauses every worker for ``Retry-After``.  The number of workers is the server's
  ``x-ms-dop-hint`` capped by ``concurrency``; how many of them may send at once, and the batch
  size, adapt AIMD-style (cut on a 429 or a timeout, grow step by step after calm batches).
  A throttled batch is not re-sent by the session: it goes back to the queue, so the workers
  do not all fire at the moment the pause ends.
* Every item is committed to the journal as ``inflight`` before its batch is sent and its
  outcome is committed when the answer arrives.  Items whose outcome is unknown (a timeout, a
  lost or incomplete response, a 5xx, or a crash) are re-read before anything is re-sent; a
  qualify is counted as done when the lead is already qualified or an opportunity originates
  from it, so QualifyLead never runs twice for a lead.
* Business failures (invalid transition, record gone) are recorded and the job goes on;
  transient failures are retried up to ``max_attempts`` sends per item.

The tuning and the summaries are in :mod:`.options`, the queues and the adaptive limits in
:mod:`.scheduler`, what a worker does with a task in :mod:`.workers`, and the
:class:`BulkRunner` that starts the workers in :mod:`.job_runner`.
"""

from __future__ import annotations

from d365leads.bulk.runner.job_runner import BulkRunner
from d365leads.bulk.runner.options import JobProgress, JobSummary, RunOptions

__all__ = ["BulkRunner", "JobProgress", "JobSummary", "RunOptions"]
