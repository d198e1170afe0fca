"""CSV rows matched by an alternate key, written through UpsertMultiple where leads support it.

Where the org does not offer UpsertMultiple on leads (probed once per push through
``sdkmessagefilters``), or a chunk fails as a whole, the rows go through ``$batch`` as single
upserts (:mod:`d365leads.multiple`), so every row still gets its own outcome.
"""

from __future__ import annotations

from d365leads.errors import DataverseError
from d365leads.multiple import MultipleAPI
from d365leads.sync.push.results import PushOutcome
from d365leads.sync.push.validation import CsvRow

__all__ = ["write_upserts"]


def write_upserts(bulk: MultipleAPI, rows: list[CsvRow], match_on: str) -> dict[int, PushOutcome]:
    """Upsert ``rows`` (each carries its ``match_on`` key value); one outcome per CSV line."""
    if not rows:
        return {}
    try:
        # push already writes its chunks in parallel: one request at a time per chunk here
        result = bulk.upsert_many(
            "leads",
            [row.body for row in rows],
            key=match_on,
            chunk_size=min(len(rows), 1000),
            max_workers=1,
        )
    except DataverseError as exc:
        return {
            row.line: PushOutcome(row.line, "failed", row.match, row.lead_id, f"not written: {exc}")
            for row in rows
        }
    outcomes: dict[int, PushOutcome] = {}
    for row, outcome in zip(rows, result, strict=True):
        if outcome.ok:
            outcomes[row.line] = PushOutcome(row.line, row.action, row.match, outcome.id)
        else:
            error = f"{outcome.status} {outcome.error_code} {outcome.message}".strip()
            outcomes[row.line] = PushOutcome(row.line, "failed", row.match, row.lead_id, error)
    return outcomes
