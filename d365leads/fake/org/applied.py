"""How many times the org applied each state change, QualifyLead and create by alternate key.

A raw read of a record shows where it ended, not how it got there: a lead reactivated twice
(by a job that resumed and sent its transition again) reads exactly like one reactivated
once.  The chaos verifier needs the history, so the org counts, per record it touched:

* ``transition FROM->TO``: a write that moved ``(statecode, statuscode)`` from one pair to
  another (``"2/6->0/1"``), whatever sent it (PATCH, ``$batch``, UpdateMultiple, an action);
* ``unchanged S/s``: a write that set the state or status a record already had: the service
  accepts it and changes nothing of the state, so it is not a second transition;
* ``QualifyLead``: a QualifyLead that succeeded on the lead;
* creates by alternate key, counted per key value (``lead`` ``emailaddress1=a@x.org``): a
  record created carrying a full alternate key (upsert or plain create).

Memory is bounded by the rows touched: counts only, never bodies; the store clears them with
its rows.  The store's snapshots carry a copy, so a write undone by a rollback (a failed
``$batch`` change set or action) is uncounted with it: it was never applied.  Served by
``GET /_fake/applied``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["AppliedCounts"]


def _pair(row: Mapping[str, Any]) -> str:
    return f"{row.get('statecode')}/{row.get('statuscode')}"


class AppliedCounts:
    """Per-record counts of applied state changes, QualifyLead calls and keyed creates."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Flat dicts: a snapshot copies them at C speed (the store snapshots per change set).
        self._records: dict[tuple[str, str, str], int] = {}
        self._key_creates: dict[tuple[str, str], int] = {}

    def __repr__(self) -> str:
        records = len({(table, record_id) for table, record_id, _ in self._records})
        return f"AppliedCounts(records={records}, keys={len(self._key_creates)})"

    def _count(self, table: str, record_id: str, what: str) -> None:
        with self._lock:
            where = (table, record_id, what)
            self._records[where] = self._records.get(where, 0) + 1

    def copy(self) -> AppliedCounts:
        """A copy (the store's snapshots carry one, so a rollback uncounts its writes)."""
        twin = AppliedCounts()
        with self._lock:
            twin._records = dict(self._records)
            twin._key_creates = dict(self._key_creates)
        return twin

    def state_written(
        self, table: str, record_id: str, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> None:
        """Count a write that set ``statecode``/``statuscode`` (``before`` and ``after`` rows)."""
        old, new = _pair(before), _pair(after)
        self._count(
            table, record_id, f"transition {old}->{new}" if old != new else f"unchanged {new}"
        )

    def qualified(self, lead_id: str) -> None:
        """Count a QualifyLead that succeeded on ``lead_id``."""
        self._count("lead", lead_id, "QualifyLead")

    def created_with_key(self, table: str, key: Mapping[str, Any]) -> None:
        """Count a create of a ``table`` row carrying the alternate key values ``key``."""
        text = ",".join(f"{name}={key[name]}" for name in sorted(key))
        with self._lock:
            self._key_creates[(table, text)] = self._key_creates.get((table, text), 0) + 1

    def clear(self) -> None:
        """Forget every count."""
        with self._lock:
            self._records = {}
            self._key_creates = {}

    def to_json(self, table: str | None = None) -> dict[str, Any]:
        """``{"records": {table: {id: {what: n}}}, "creates_by_key": {table: {key: n}}}``,
        optionally one table only."""
        records: dict[str, dict[str, dict[str, int]]] = {}
        creates: dict[str, dict[str, int]] = {}
        with self._lock:
            for (name, record_id, what), n in self._records.items():
                if table is None or name == table:
                    records.setdefault(name, {}).setdefault(record_id, {})[what] = n
            for (name, key), n in self._key_creates.items():
                if table is None or name == table:
                    creates.setdefault(name, {})[key] = n
        return {"records": records, "creates_by_key": creates}
