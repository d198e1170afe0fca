"""Client-side ``$batch``: build a batch, encode it as ``multipart/mixed``, decode the answer.

A :class:`BatchRequest` collects up to 1,000 operations (Dataverse's limit), either as
independent parts or grouped in atomic :class:`ChangeSet` s whose operations get ``Content-ID``
values that later operations of the same changeset can reference as ``$n``.  ``execute()`` sends
it with one ``POST $batch`` through the :class:`~d365leads.http.pipeline.ApiSession` (so auth,
retry and throttling apply to the batch as a whole) and returns one :class:`OperationResult` per
operation, in the order they were added.

By default the batch asks for ``Prefer: odata.continue-on-error`` so that one bad record does not
stop the others; without it Dataverse stops at the first failure, answers 400 with that failure
only, and :meth:`BatchRequest.execute` raises :class:`~d365leads.errors.BatchError`.

Wire format: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

from d365leads.batch.builder import BatchRequest, ChangeSet
from d365leads.batch.decoder import decode_batch_response
from d365leads.batch.encoder import EncodedBatch, encode_batch
from d365leads.batch.operations import BatchOperation
from d365leads.batch.results import BatchResult, OperationResult

__all__ = [
    "BatchOperation",
    "BatchRequest",
    "BatchResult",
    "ChangeSet",
    "EncodedBatch",
    "OperationResult",
    "decode_batch_response",
    "encode_batch",
]
