"""Push leads from a CSV file: validated as a whole, then written as upserts through ``$batch``.

1. **Validate every row before the first write.** Unknown or read-only columns, bad e-mail
   addresses, bad numbers, dates or GUIDs, unknown status reasons or lead sources, values that
   are too long, missing or repeated match values, and updates of closed leads are reported by
   line number. A file with any invalid row writes nothing (unless ``skip_invalid``).
   Columns the library does not model (tenant columns such as ``new_score``) are checked
   against the org's column definitions, read once per push and only when the header has
   such columns: a writable ``String``/``Memo``/``Integer``/``BigInt``/``Decimal``/``Double``/
   ``Money``/``Boolean``/``DateTime`` column is converted by its type and validated per line
   like the modelled ones; when the org does not serve the definitions the column is refused,
   saying it could not be checked.
2. **Match** each row to an existing lead: by ``leadid`` when the row has one; by an alternate
   key (``PATCH leads(key='v')``, Dataverse decides create or update) when ``alternate_key`` is
   set; otherwise by looking the match column up (``$filter=emailaddress1 eq ...``).
3. **Write** through :class:`~d365leads.batch.BatchRequest` (100 independent operations per
   ``$batch`` with continue-on-error), sent by the client's session: auth, retry and the shared
   throttle state (a 429 pauses every writer) apply. Updates carry ``If-Match: *`` so they can
   never create a record by accident. Rows matched by an alternate key go through
   UpsertMultiple where the org offers it on leads (:mod:`.upserts`), else ``$batch``.

Reading and validation are in :mod:`.validation` (cells in :mod:`.cells`), matching in
:mod:`.planning`, the run and its batches in :mod:`.writing`, the outcome types in
:mod:`.results`.
"""

from __future__ import annotations

from d365leads.sync.push.results import CsvValidationError, PushOutcome, PushResult, RowError
from d365leads.sync.push.validation import read_csv
from d365leads.sync.push.writing import DEFAULT_BATCH_SIZE, push_csv

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CsvValidationError",
    "PushOutcome",
    "PushResult",
    "RowError",
    "push_csv",
    "read_csv",
]
