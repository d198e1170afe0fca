"""The bulk operation messages: CreateMultiple, UpdateMultiple and UpsertMultiple.

:class:`MultipleAPI` (``client.records.create_many`` / ``update_many`` / ``upsert_many``) sends
many records of one table in chunks through the messages, probes each table's support once
(``sdkmessagefilters``), falls back to ``$batch`` where a table lacks them and re-sends a failed
chunk as a ``$batch`` to find the bad records.  See
https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations
"""

from __future__ import annotations

from d365leads.multiple.api import DEFAULT_CHUNK_SIZE, MultipleAPI, Update
from d365leads.multiple.results import ManyResult, Path, RecordOutcome
from d365leads.multiple.sizing import MAX_TARGETS, ChunkSizer
from d365leads.multiple.support import BULK_MESSAGES, MessageSupport
from d365leads.multiple.writer import BYPASS_CUSTOM_LOGIC, BulkItem, BulkWriter

__all__ = [
    "BULK_MESSAGES",
    "BYPASS_CUSTOM_LOGIC",
    "DEFAULT_CHUNK_SIZE",
    "MAX_TARGETS",
    "BulkItem",
    "BulkWriter",
    "ChunkSizer",
    "ManyResult",
    "MessageSupport",
    "MultipleAPI",
    "Path",
    "RecordOutcome",
    "Update",
]
