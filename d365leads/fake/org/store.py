"""The fake's in-memory tables: rows, a global version counter, tombstones and snapshots.

Storage model
-------------
* One dict per table (logical name), mapping the lower-case GUID string of the primary key to
  a row dict.  Rows are keyed by **attribute logical names** (``subject``, ``statecode``,
  ``parentaccountid``) and hold JSON-compatible values: ``str``, ``int``, ``float``, ``bool``,
  ``None``; datetimes as ISO-8601 UTC strings ``2026-01-05T09:00:00Z``, dates ``2026-01-05``.
* **Lookups** are stored under the attribute name as the lower-case GUID string of the target
  (``row["parentaccountid"] = "3f2c…"``).  A polymorphic lookup (customer) also stores its
  target table in ``<attribute>type`` (``row["customeridtype"] = "account"``).  Owner lookups
  store ``ownerid`` (GUID) and ``owneridtype`` (``systemuser`` or ``team``), and
  ``owninguser``/``owningteam`` follow them.  The Web API names
  (``_parentaccountid_value``, ``customerid_account@odata.bind``) exist only in
  the wire (``wire.serialize``) and the write path (``org.values``).
* **Versions**: one monotonic counter for the whole org.  Every insert and update takes the next
  value and writes it to the row's ``versionnumber`` (the ETag is ``W/"<versionnumber>"``);
  every delete takes the next value and records a :class:`Tombstone`
  ``(table, id, version, time)`` for change tracking.
* **System columns**: ``insert`` fills ``createdon``/``modifiedon`` from the clock and
  ``createdby``/``modifiedby``/``ownerid`` from ``actor`` when the table has them and the row does
  not; ``update`` refreshes ``modifiedon`` (and ``modifiedby`` when ``actor`` is given).
* The store does **no** business validation (that is ``org.records``/``org.states``); it only
  guarantees unique keys and consistent versions.  All methods take the re-entrant ``lock``; hold
  :meth:`transaction` (or ``lock``) across several calls that must be atomic.
* :meth:`snapshot`/:meth:`restore` copy the whole state (used by changesets and actions).
* IDs come from :meth:`new_id`: ``uuid4`` or, with ``guid_seed``, a deterministic sequence.
"""

from __future__ import annotations

import heapq
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.clock import Clock, utc_now
from ..core.fault import duplicate_key, not_found
from ..core.values import Row, format_datetime, normalize_id
from .applied import AppliedCounts
from .schema import Table
from .tables import TABLES, table
from .team_table import sync_owning

__all__ = ["Row", "Store", "StoreSnapshot", "Tombstone", "format_datetime", "normalize_id"]


def _version_of(row: Row) -> int:
    return int(row["versionnumber"])


@dataclass(frozen=True)
class Tombstone:
    """A delete, remembered for change tracking."""

    table: str
    id: str
    version: int
    time: datetime


@dataclass(frozen=True)
class StoreSnapshot:
    """An opaque copy of the store's state (see :meth:`Store.snapshot`)."""

    tables: dict[str, dict[str, Row]]
    version: int
    tombstones: tuple[Tombstone, ...]
    applied: AppliedCounts


class Store:
    """Thread-safe in-memory tables (see the module docstring for the storage model)."""

    def __init__(self, *, clock: Clock | None = None, guid_seed: int | None = None) -> None:
        self.lock = threading.RLock()
        self.clock: Clock = clock or utc_now
        self._rng = random.Random(guid_seed) if guid_seed is not None else None
        self._tables: dict[str, dict[str, Row]] = {name: {} for name in TABLES}
        self._version = 0
        self._generation = 0  # bumped when the state moves other than by a versioned write
        self._writes: dict[str, int] = {}  # per table, so a watcher of one table sees its writes
        self._tombstones: list[Tombstone] = []
        self.applied = AppliedCounts()
        """How many times each state change, QualifyLead and keyed create was applied."""

    # --- ids, time, versions -----------------------------------------------------------------

    def new_id(self) -> str:
        """A new GUID (deterministic when the store was built with ``guid_seed``)."""
        with self.lock:
            if self._rng is None:
                return str(uuid.uuid4())
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def now(self) -> datetime:
        """The store clock's current time."""
        return self.clock()

    @property
    def version(self) -> int:
        """The last version number handed out (0 before the first write)."""
        with self.lock:
            return self._version

    @property
    def state(self) -> tuple[int, int]:
        """A key that changes on every change of any table (version, plus restores/clears)."""
        with self.lock:
            return self._version, self._generation

    def writes(self, logical_name: str) -> tuple[int, int]:
        """A key that changes on every write to ``logical_name`` (and on restores and clears).

        Read without the lock, so a check before each request costs nothing; a caller that
        races a write sees it on its next look.
        """
        return self._generation, self._writes.get(logical_name, 0)

    def _wrote(self, logical_name: str) -> None:
        self._writes[logical_name] = self._writes.get(logical_name, 0) + 1

    def _next_version(self) -> int:
        self._version += 1
        return self._version

    @property
    def tombstones(self) -> list[Tombstone]:
        """A copy of every recorded delete, oldest first."""
        with self.lock:
            return list(self._tombstones)

    # --- rows -------------------------------------------------------------------------------

    def _table(self, logical_name: str) -> tuple[Table, dict[str, Row]]:
        meta = table(logical_name)
        return meta, self._tables[logical_name]

    def insert(
        self,
        logical_name: str,
        row: Row,
        *,
        actor: str | None = None,
        version: int | None = None,
    ) -> Row:
        """Add ``row`` (primary key optional: a new id is generated) and return a copy.

        ``version`` (seeding only) sets the row's ``versionnumber``; it must be above every
        version handed out so far, and the counter continues from it, so versions stay unique
        and in write order.  Raises :class:`FakeFault` ``0x80040237`` if the key already exists
        and ``ValueError`` for a ``version`` that is not above the counter.
        """
        with self.lock:
            if version is not None and version <= self._version:
                raise ValueError(
                    f"versionnumber {version} is not above the org's last row version "
                    f"{self._version}; seeded versions must rise in seed order"
                )
            meta, rows = self._table(logical_name)
            data = dict(row)
            raw_id = data.get(meta.primary_key) or self.new_id()
            record_id = normalize_id(raw_id)
            if record_id in rows:
                raise duplicate_key()
            data[meta.primary_key] = record_id
            stamp = format_datetime(self.now())
            columns = meta.by_name
            for name in ("createdon", "modifiedon"):
                if name in columns and not data.get(name):
                    data[name] = stamp
            if actor is not None:
                for name in ("createdby", "modifiedby", "ownerid"):
                    if name in columns and not data.get(name):
                        data[name] = actor
                if "ownerid" in columns and data.get("ownerid"):
                    data.setdefault("owneridtype", "systemuser")
            sync_owning(data, columns)
            if version is not None:
                self._version = version
                data["versionnumber"] = version
            else:
                data["versionnumber"] = self._next_version()
            rows[record_id] = data
            self._wrote(logical_name)
            return dict(data)

    def get(self, logical_name: str, record_id: str) -> Row | None:
        """A copy of the row, or ``None``."""
        with self.lock:
            _, rows = self._table(logical_name)
            try:
                key = normalize_id(record_id)
            except ValueError:
                return None
            found = rows.get(key)
            return dict(found) if found is not None else None

    def value(self, logical_name: str, record_id: str, column: str) -> Any:
        """One column of a row without copying the row (``None`` when the row is missing)."""
        with self.lock:
            _, rows = self._table(logical_name)
            found = rows.get(record_id)  # stored keys are canonical: try the text as given first
            if found is None:
                try:
                    found = rows.get(normalize_id(record_id))
                except ValueError:
                    return None
            return found.get(column) if found is not None else None

    def exists(self, logical_name: str, record_id: str) -> bool:
        """True when the row exists."""
        return self.get(logical_name, record_id) is not None

    def update(
        self, logical_name: str, record_id: str, changes: Row, *, actor: str | None = None
    ) -> Row:
        """Merge ``changes`` into the row, bump its version and return a copy.

        Raises the 404 :class:`FakeFault` when the row does not exist.  The primary key and
        ``versionnumber`` cannot be changed.
        """
        with self.lock:
            meta, rows = self._table(logical_name)
            key = normalize_id(record_id)
            current = rows.get(key)
            if current is None:
                raise not_found(logical_name, key)
            updated = dict(current)
            updated.update(changes)
            updated[meta.primary_key] = key
            if "ownerid" in changes:
                sync_owning(updated, meta.by_name)
            if "modifiedon" in meta.by_name:
                updated["modifiedon"] = format_datetime(self.now())
            if actor is not None and "modifiedby" in meta.by_name:
                updated["modifiedby"] = actor
            updated["versionnumber"] = self._next_version()
            rows[key] = updated
            self._wrote(logical_name)
            return dict(updated)

    def delete(self, logical_name: str, record_id: str) -> Row:
        """Remove the row, record a tombstone and return the removed row (404 if missing)."""
        with self.lock:
            _, rows = self._table(logical_name)
            key = normalize_id(record_id)
            removed = rows.pop(key, None)
            if removed is None:
                raise not_found(logical_name, key)
            self._tombstones.append(Tombstone(logical_name, key, self._next_version(), self.now()))
            self._wrote(logical_name)
            return removed

    def rows(self, logical_name: str) -> list[Row]:
        """Copies of every row of the table, in insertion order."""
        with self.lock:
            _, rows = self._table(logical_name)
            return [dict(r) for r in rows.values()]

    def rows_by_id(self, logical_name: str, ids: list[str]) -> list[Row]:
        """Copies of the rows with these canonical ids, in that order (missing ids skipped)."""
        with self.lock:
            _, rows = self._table(logical_name)
            found = (rows.get(i) for i in ids)
            return [dict(r) for r in found if r is not None]

    def rows_between(
        self, logical_name: str, after: int, up_to: int, limit: int | None = None
    ) -> list[Row]:
        """Copies of the rows whose version is in ``(after, up_to]``, in version order (only
        the first ``limit`` of them when given: a page copies its own rows, not the rest)."""
        with self.lock:
            _, rows = self._table(logical_name)
            found = [r for r in rows.values() if after < r["versionnumber"] <= up_to]
            if limit is not None and len(found) > limit:
                found = heapq.nsmallest(limit, found, key=_version_of)
            else:
                found.sort(key=_version_of)
            return [dict(r) for r in found]

    def find(self, logical_name: str, predicate: Callable[[Row], bool]) -> list[Row]:
        """Copies of the rows for which ``predicate`` is true."""
        return [r for r in self.rows(logical_name) if predicate(r)]

    def count(self, logical_name: str) -> int:
        """Number of rows in the table."""
        with self.lock:
            return len(self._table(logical_name)[1])

    def changes_since(self, version: int) -> tuple[list[tuple[str, Row]], list[Tombstone]]:
        """Rows written and deletes recorded after ``version``, each in version order."""
        with self.lock:
            written = [
                (name, dict(r))
                for name, rows in self._tables.items()
                for r in rows.values()
                if r["versionnumber"] > version
            ]
            written.sort(key=lambda item: int(item[1]["versionnumber"]))
            deleted = [t for t in self._tombstones if t.version > version]
            return written, deleted

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> StoreSnapshot:
        """Copy the whole state."""
        with self.lock:
            return StoreSnapshot(
                {
                    name: {k: dict(r) for k, r in rows.items()}
                    for name, rows in self._tables.items()
                },
                self._version,
                tuple(self._tombstones),
                self.applied.copy(),
            )

    def restore(self, snapshot: StoreSnapshot) -> None:
        """Return to a state taken by :meth:`snapshot`."""
        with self.lock:
            self._tables = {
                name: {k: dict(r) for k, r in rows.items()}
                for name, rows in snapshot.tables.items()
            }
            self._version = snapshot.version
            self._generation += 1
            self._tombstones = list(snapshot.tombstones)
            self.applied = snapshot.applied.copy()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Hold the lock; on any exception restore the state from before the block."""
        with self.lock:
            before = self.snapshot()
            try:
                yield self
            except BaseException:
                self.restore(before)
                raise

    def clear(self) -> None:
        """Remove every row and tombstone (the version counter keeps counting)."""
        with self.lock:
            self._tables = {name: {} for name in TABLES}
            self._generation += 1
            self._tombstones = []
            self.applied.clear()

    def __repr__(self) -> str:
        with self.lock:
            sizes = ", ".join(f"{k}={len(v)}" for k, v in self._tables.items() if v)
            return f"Store(version={self._version}, {sizes or 'empty'})"
