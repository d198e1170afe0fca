"""``create_many``, ``update_many`` and ``upsert_many``: many records of one table, in bulk.

Records go through CreateMultiple / UpdateMultiple / UpsertMultiple where the table supports
them (probed once per table and cached), in chunks of at most 1,000 whose size adapts to
throttling; a chunk that fails is re-sent as a ``$batch`` so the bad records are found and the
others written; tables without the messages use ``$batch`` throughout
(:mod:`~d365leads.multiple.writer`).  Every input record gets a
:class:`~d365leads.multiple.results.RecordOutcome`.  Nothing is sent until every record has
been checked.  Chunks go out on up to ``max_workers`` threads (default: the org's
``x-ms-dop-hint``, at most 8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from d365leads.errors import InvalidInputError
from d365leads.http.pipeline import _PATH_SAFE  # one definition of what a path leaves as is
from d365leads.models.base import ENTITY_SETS
from d365leads.multiple.results import ManyResult
from d365leads.multiple.support import MessageSupport
from d365leads.multiple.writer import BulkItem, BulkWriter
from d365leads.odata.literals import normalize_guid
from d365leads.odata.paths import check_entity_set, entity_path

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["DEFAULT_CHUNK_SIZE", "MultipleAPI", "Update"]

DEFAULT_CHUNK_SIZE = 100
"""First chunk size: the bulk jobs' starting point (it grows to 1,000 while requests are calm)."""

Update = tuple[Any, Mapping[str, Any]]
"""``(record id, changes)`` for :meth:`MultipleAPI.update_many`."""


class MultipleAPI:
    """Bulk writes of one table's records (see the module docstring)."""

    def __init__(self, session: ApiSession) -> None:
        self.session = session
        self.support = MessageSupport(session)
        """Which tables support the bulk messages (probed once per table)."""

    def create_many(
        self,
        entity_set: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        table: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        bypass_custom_logic: bool = False,
        max_workers: int | None = None,
    ) -> ManyResult:
        """Create one record per row; the outcomes carry the new ids."""
        logical = _table(entity_set, table)
        items = []
        for index, row in enumerate(rows):
            data = _row(row, index)
            target = {"@odata.type": _type(logical), **data}
            items.append(BulkItem(index, target, "POST", entity_set, data))
        return self._write("CreateMultiple", entity_set, logical, items, chunk_size,
                           bypass_custom_logic, max_workers)  # fmt: skip

    def update_many(
        self,
        entity_set: str,
        updates: Iterable[Update] | Iterable[Any],
        changes: Mapping[str, Any] | None = None,
        *,
        table: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        bypass_custom_logic: bool = False,
        max_workers: int | None = None,
    ) -> ManyResult:
        """Update existing records: ``(id, changes)`` pairs, or ids and one ``changes`` for all.

        Never creates a record: a missing one fails with 404 (in ``$batch`` each update sends
        ``If-Match: *``).
        """
        logical = _table(entity_set, table)
        key = f"{logical}id"
        items = []
        for index, entry in enumerate(updates):
            if changes is None:
                if not (isinstance(entry, tuple) and len(entry) == 2):
                    raise InvalidInputError(
                        f"update {index}: give (id, changes) pairs, or ids with changes=..."
                    )
                raw_id, data = entry[0], _row(entry[1], index)
            else:
                raw_id, data = entry, _row(changes, index)
            record_id = normalize_guid(raw_id, what=f"record id of update {index}")
            body = {k: v for k, v in data.items() if k != key}
            target = {"@odata.type": _type(logical), **body, key: record_id}
            path = entity_path(entity_set, record_id)
            items.append(BulkItem(index, target, "PATCH", path, body, record_id, "*"))
        return self._write("UpdateMultiple", entity_set, logical, items, chunk_size,
                           bypass_custom_logic, max_workers)  # fmt: skip

    def upsert_many(
        self,
        entity_set: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: str | Sequence[str],
        table: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        bypass_custom_logic: bool = False,
        max_workers: int | None = None,
    ) -> ManyResult:
        """Create or update one record per row, matched by ``key``: the primary key column or
        the column(s) of an alternate key, which every row must carry."""
        logical = _table(entity_set, table)
        columns = [key] if isinstance(key, str) else list(key)
        if not columns:
            raise InvalidInputError("upsert_many needs key=: the primary key or alternate key")
        primary = f"{logical}id"
        items = []
        for index, row in enumerate(rows):
            data = _row(row, index)
            missing = [c for c in columns if data.get(c) is None]
            if missing:
                raise InvalidInputError(
                    f"row {index} has no value for the key column(s) {', '.join(missing)}; "
                    "nothing was sent"
                )
            body = {k: v for k, v in data.items() if k not in columns}
            target: dict[str, Any] = {"@odata.type": _type(logical), **body}
            if columns == [primary]:
                record_id = normalize_guid(data[primary], what=f"{primary} of row {index}")
                target[primary] = record_id
                path = entity_path(entity_set, record_id)
                items.append(BulkItem(index, target, "PATCH", path, body, record_id))
                continue
            path = entity_path(entity_set, {c: data[c] for c in columns})
            # @odata.id is a URL: percent-encode as the session does for a request path
            target["@odata.id"] = quote(path, safe=_PATH_SAFE)
            items.append(BulkItem(index, target, "PATCH", path, body))
        return self._write("UpsertMultiple", entity_set, logical, items, chunk_size,
                           bypass_custom_logic, max_workers)  # fmt: skip

    def _write(
        self,
        message: str,
        entity_set: str,
        table: str,
        items: list[BulkItem],
        chunk_size: int,
        bypass_custom_logic: bool,
        max_workers: int | None,
    ) -> ManyResult:
        writer = BulkWriter(
            self.session, self.support, message=message, entity_set=entity_set, table=table,
            chunk_size=chunk_size, bypass_custom_logic=bypass_custom_logic,
            max_workers=max_workers,
        )  # fmt: skip
        return writer.run(items)

    def __repr__(self) -> str:
        return f"MultipleAPI({self.session.org_url!r})"


def _table(entity_set: str, table: str | None) -> str:
    check_entity_set(entity_set)
    if table is not None:
        return table
    for logical, known in ENTITY_SETS.items():
        if known == entity_set:
            return logical
    raise InvalidInputError(
        f"the table of entity set {entity_set!r} is not known to d365leads; pass table= "
        "(its logical name)"
    )


def _type(table: str) -> str:
    return f"Microsoft.Dynamics.CRM.{table}"


def _row(row: Any, index: int) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise InvalidInputError(f"record {index} must be a mapping, got {type(row).__name__}")
    return dict(row)
