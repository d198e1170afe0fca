"""A mirrored table's row as a list of database values in a fixed column order.

:func:`~d365leads.sync.tables.row_builder` gives a dict per row, which suits callers that
read the values by name. A full mirror writes hundreds of thousands of rows through one
prepared statement: there a :class:`RowPlan` fetches every wire property of the row in one
``itemgetter`` call, converts only the values that need it (lower-cased GUIDs, numbers, dates,
labels that must be text) and hands the list to the statement as it is. The values equal the
ones ``row_builder`` gives, column for column; a plan made with ``stored=True`` gives them in
the form an SQLite mirror stores them instead (:mod:`.stored_form`), so no bind processor runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any

from d365leads import _wire
from d365leads.errors import SyncError
from d365leads.sync.tables.columns import ColumnSpec, TableSpec, converter, row_builder
from d365leads.sync.tables.stored_form import stored_converter, stored_time

__all__ = ["META_KEYS", "PlannedRows", "RowPlan"]

META_KEYS = ("_raw", "_synced_at", "_deleted_at", "_sync_gen")
"""The bookkeeping columns, last in every planned row, in this order."""

_TEXT_KINDS = frozenset({"string", "memo"})


class PlannedRows(list[list[Any]]):
    """Rows of a :class:`RowPlan`: value lists in ``keys`` order, for ``SyncTarget.upsert``.

    ``json_text`` names the JSON columns whose values are JSON text (a row as it came on the
    wire) rather than values to encode; ``stored`` the columns whose values are already in the
    form an SQLite mirror stores (see :attr:`RowPlan.stored_keys`).
    """

    def __init__(
        self,
        keys: Sequence[str],
        rows: Iterable[list[Any]],
        json_text: Collection[str] = (),
        stored: Collection[str] = (),
    ) -> None:
        super().__init__(rows)
        self.keys = tuple(keys)
        self.json_text = frozenset(json_text)
        self.stored = frozenset(stored)


class RowPlan:
    """The database row of a mirrored table for each wire row (built once per table pull).

    :attr:`keys` names the values of a planned row: the storage columns of ``columns`` (value,
    label, target type), the primary key when it is not among them, then :data:`META_KEYS`.

    ``stored=True``: dates, times and booleans (``_synced_at`` included) come in the form an
    SQLite mirror stores them (:mod:`.stored_form`); :attr:`stored_keys` names the values that
    need no bind processor.
    """

    def __init__(
        self, spec: TableSpec, columns: Sequence[ColumnSpec], *, stored: bool = False
    ) -> None:
        self.spec = spec
        self.columns = tuple(columns)
        names: list[str] = []
        props: list[str] = []
        converted: list[tuple[int, Callable[[Any], Any]]] = []
        text: list[int] = []
        label_names: list[str] = []
        label_props: list[str] = []
        for col in self.columns:
            index = len(names)
            names.append(col.name)
            props.append(col.wire_property)
            if col.kind in _TEXT_KINDS:
                text.append(index)
            else:
                make = stored_converter if stored else converter
                converted.append((index, make(col.kind)))
            # A value's annotations are absent when it is null: they are read one by one.
            if col.label_column:
                label_names.append(col.label_column)
                label_props.append(col.wire_property + _wire.ANNOTATION_FORMATTED)
            if col.type_column:
                label_names.append(col.type_column)
                label_props.append(col.wire_property + _wire.ANNOTATION_LOOKUP_LOGICAL_NAME)
        names += label_names
        self._slow = row_builder(self.columns)
        # Two columns filling one cell (a tenant column named like a label column): the cell
        # keeps what row_builder's dict keeps, so such a plan reads its values from that dict.
        self._by_name = len(set(names)) != len(names)
        if self._by_name:
            names = list(self._slow({}))
        self._names = tuple(names)
        self._key_index = names.index(spec.primary_key) if spec.primary_key in names else None
        key = () if self._key_index is not None else (spec.primary_key,)
        self.keys: tuple[str, ...] = (*names, *key, *META_KEYS)
        self._props = tuple(props)
        self._get = itemgetter(*props) if len(props) > 1 else None
        self._converted = tuple(converted)
        self._text = tuple(text)
        self._label_props = tuple(label_props)
        # A plan reading through row_builder's dict gets typed values: those keep the processors.
        self._stored = stored and not self._by_name
        self.stored_keys: frozenset[str] = (
            frozenset(self.keys) - {"_raw"} if self._stored else frozenset()
        )
        self._now: tuple[datetime, Any] | None = None
        modified = spec.column(spec.modified_column)
        self._stored_times = self._stored and modified is not None and modified.kind == "datetime"

    def index(self, key: str) -> int | None:
        """The position of database column ``key`` in a planned row, or ``None``."""
        return self.keys.index(key) if key in self.keys else None

    def row(self, wire: Mapping[str, Any], raw: Any, generation: int, now: datetime) -> list[Any]:
        """The database values of ``wire`` in :attr:`keys` order; ``raw`` is stored as ``_raw``."""
        if self._by_name:
            cells = self._slow(wire)
            values = [cells[name] for name in self._names]
        else:
            values = self._typed(wire)
        rid = wire.get(self.spec.primary_key)
        if not rid:
            raise SyncError(
                f"a {self.spec.logical_name} row came back without its key "
                f"{self.spec.primary_key!r}; the mirror cannot store it"
            )
        key = str(rid).lower()
        if self._key_index is None:
            values.append(key)
        else:
            values[self._key_index] = key
        values += (raw, self._synced_at(now), None, generation)
        return values

    def _synced_at(self, now: datetime) -> Any:
        if not self._stored:
            return now
        if self._now is None or self._now[0] is not now:
            self._now = (now, stored_time(now))
        return self._now[1]

    def modified_time(self, value: Any) -> datetime | None:
        """The time of a planned row's ``modifiedon`` value (stored text or datetime), else
        ``None``."""
        if isinstance(value, datetime):
            return value
        if self._stored_times and isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
        return None

    def _typed(self, wire: Mapping[str, Any]) -> list[Any]:
        try:
            values = list(self._get(wire)) if self._get is not None else self._each(wire)
        except KeyError:  # a selected property is missing from the row: it reads as null
            values = self._each(wire)
        try:
            for index in self._text:
                value = values[index]
                if value is not None and type(value) is not str:
                    values[index] = str(value)
            for index, conv in self._converted:
                value = values[index]
                if value is not None:
                    values[index] = conv(value)
        except (TypeError, ValueError, OverflowError):
            self._slow(wire)  # raises the error that names the offending column
            raise
        get = wire.get
        for prop in self._label_props:
            label = get(prop)
            values.append(label if type(label) is str else None)
        return values

    def _each(self, wire: Mapping[str, Any]) -> list[Any]:
        get = wire.get
        return [get(prop) for prop in self._props]
