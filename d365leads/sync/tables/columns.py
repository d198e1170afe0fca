"""Column and table specs of the mirror, and how a wire value becomes a database value.

A mirrored table has one typed column per modelled Dataverse attribute (named by its logical
name), lookups stored as the GUID they point to (``parentaccountid``, read from the wire
property ``_parentaccountid_value``), a ``<name>_label`` column next to ``statecode``,
``statuscode`` and choice columns (filled from the formatted-value annotation), plus the
bookkeeping columns ``_raw`` (the whole row as JSON, so tenant-specific columns are kept),
``_synced_at``, ``_deleted_at`` and ``_sync_gen``.

Columns a user adds with ``--select`` that are not modelled become ``extra`` columns: their
text (numbers and booleans as JSON) goes in a text column, and ``_raw`` keeps the typed value.
A type suffix makes a typed column instead: ``new_score:int`` (one of :data:`EXTRA_KINDS`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cached_property, lru_cache
from typing import Any, Literal

from d365leads import _wire
from d365leads.errors import SyncError

__all__ = [
    "EXTRA_KINDS",
    "ColumnKind",
    "ColumnSpec",
    "TableSpec",
    "convert",
    "converter",
    "deleted_id",
    "parse_datetime",
    "row_builder",
]


ColumnKind = Literal[
    "guid",
    "string",
    "memo",
    "int",
    "bigint",
    "decimal",
    "money",
    "float",
    "bool",
    "datetime",
    "date",
    "choice",
    "state",
    "status",
    "lookup",
    "customer",
    "owner",
    "extra",
]

_LOOKUP_KINDS = frozenset({"lookup", "customer", "owner"})
EXTRA_KINDS: tuple[ColumnKind, ...] = (
    "string",
    "memo",
    "int",
    "bigint",
    "decimal",
    "money",
    "float",
    "bool",
    "datetime",
    "date",
)
"""Types a selected tenant column may name (``new_score:int``); without one it is text."""
_LABELLED_KINDS = frozenset({"choice", "state", "status"})
_TEXT_KINDS = frozenset({"string", "memo"})
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,99}$")
_LOOKUP_LOGICAL_NAME = _wire.ANNOTATION_LOOKUP_LOGICAL_NAME


@dataclass(frozen=True)
class ColumnSpec:
    """One mirrored attribute: its logical name and how its value is typed."""

    name: str
    kind: ColumnKind

    @property
    def is_lookup(self) -> bool:
        """True for lookup, customer and owner columns (stored as the target's GUID)."""
        return self.kind in _LOOKUP_KINDS

    @property
    def wire_property(self) -> str:
        """The property name on the wire: ``_<name>_value`` for lookups, else the name."""
        return f"_{self.name}_value" if self.is_lookup else self.name

    @property
    def label_column(self) -> str | None:
        """The companion column holding the label of a state, status or choice value."""
        return f"{self.name}_label" if self.kind in _LABELLED_KINDS else None

    @property
    def type_column(self) -> str | None:
        """The companion column holding the target table of a polymorphic (customer) lookup."""
        return f"{self.name}type" if self.kind == "customer" else None

    def storage_columns(self) -> list[str]:
        """Every database column this attribute fills."""
        out = [self.name]
        if self.label_column:
            out.append(self.label_column)
        if self.type_column:
            out.append(self.type_column)
        return out

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The database values of this attribute in a wire row (missing properties -> None)."""
        return row_builder([self])(row)


@dataclass(frozen=True)
class TableSpec:
    """A mirrored table: names, primary key, modelled columns and its status reasons."""

    logical_name: str
    entity_set: str
    primary_key: str
    columns: tuple[ColumnSpec, ...]
    statuses: Mapping[int, tuple[int, str]]
    """statuscode -> (statecode it belongs to, label), the out-of-the-box reasons."""
    alternate_keys: tuple[tuple[str, ...], ...] = ()
    modified_column: str = "modifiedon"

    @cached_property
    def _by_name(self) -> Mapping[str, ColumnSpec]:
        # column() runs per CSV cell on a push: index the columns once per spec.
        return {c.name: c for c in reversed(self.columns)}

    def column(self, name: str) -> ColumnSpec | None:
        """The modelled column ``name``, or ``None``."""
        return self._by_name.get(name)

    def with_extras(self, names: Iterable[str]) -> tuple[ColumnSpec, ...]:
        """The modelled columns plus ``names`` (checked; unknown ones become extra columns).

        ``name:kind`` (``new_score:int``, kinds in :data:`EXTRA_KINDS`) stores a tenant column
        typed; a bare name stores its text.
        """
        cols = list(self.columns)
        known = {c.name for c in cols} | {c.wire_property for c in cols}
        for raw in names:
            name, _, kind = raw.strip().lower().partition(":")
            name, kind = name.strip(), kind.strip()
            if not name:
                continue
            if kind and kind not in EXTRA_KINDS:
                raise SyncError(
                    f"{raw!r}: unknown column type {kind!r}; use one of {', '.join(EXTRA_KINDS)}"
                )
            if not _NAME_RE.match(name):
                raise SyncError(
                    f"{raw!r} is not a column name (lower-case letters, digits and '_'); "
                    f"pass the logical name of a {self.logical_name} column to --select"
                )
            if name in known:
                if kind:
                    raise SyncError(
                        f"{raw!r}: {name} is a modelled {self.logical_name} column with its own "
                        "type; select it without a type"
                    )
                continue
            if name.startswith("_") and name.endswith("_value") and len(name) > 7:
                if kind:
                    raise SyncError(f"{raw!r}: a lookup is stored as a GUID; drop the type")
                col = ColumnSpec(name[1:-6], "lookup")
            else:
                col = ColumnSpec(name, kind or "extra")
            cols.append(col)
            known |= {col.name, col.wire_property}
        return tuple(cols)


def _text(value: Any) -> str:
    return value if type(value) is str else str(value)


def _guid(value: Any) -> str:
    return str(value).lower()


def _int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise ValueError(f"{value!r} is not a boolean")


def _datetime(value: Any) -> datetime:
    return parse_datetime(_text(value))


@lru_cache(maxsize=8192)
def _date(text: str) -> date:
    return date.fromisoformat(text[:10])


def _extra(value: Any) -> str:
    # Tenant columns of unknown type: text as is, everything else as JSON text.
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "guid": _guid,
    "lookup": _guid,
    "customer": _guid,
    "owner": _guid,
    "string": _text,
    "memo": _text,
    "int": _int,
    "bigint": _int,
    "choice": _int,
    "state": _int,
    "status": _int,
    "decimal": _float,
    "money": _float,
    "float": _float,
    "bool": _bool,
    "datetime": _datetime,
    "date": lambda v: _date(_text(v)),
    "extra": _extra,
}


def converter(kind: ColumnKind) -> Callable[[Any], Any]:
    """The function turning a non-null wire value of ``kind`` into its database value."""
    return _CONVERTERS[kind]


def convert(kind: ColumnKind, value: Any, name: str = "") -> Any:
    """Convert one wire value to its database value (``None`` stays ``None``)."""
    if value is None:
        return None
    try:
        return _CONVERTERS[kind](value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SyncError(f"column {name!r}: cannot read {value!r} as {kind}: {exc}") from exc


def row_builder(
    columns: Sequence[ColumnSpec],
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function turning a wire row into the database values of ``columns`` (compiled once)."""
    # Text columns need no converter when the value already is a string (nearly always):
    # they are copied in a loop of their own, and only the other kinds call a converter.
    text = [(c.name, c.wire_property) for c in columns if c.kind in _TEXT_KINDS]
    plan = [
        (
            col.name,
            col.wire_property,
            _CONVERTERS[col.kind],
            col.label_column,
            col.wire_property + _wire.ANNOTATION_FORMATTED,
            col.type_column,
            col.wire_property + _LOOKUP_LOGICAL_NAME,
        )
        for col in columns
        if col.kind not in _TEXT_KINDS
    ]

    def build(row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        get = row.get
        try:
            for name, prop in text:
                value = get(prop)
                out[name] = value if value is None or type(value) is str else str(value)
            for name, prop, conv, label_col, label_key, type_col, type_key in plan:
                value = get(prop)
                out[name] = None if value is None else conv(value)
                if label_col is not None:
                    label = get(label_key)
                    out[label_col] = label if type(label) is str else None
                if type_col is not None:
                    target = get(type_key)
                    out[type_col] = target if type(target) is str else None
        except (TypeError, ValueError, OverflowError):
            for col in columns:  # name the offending column
                convert(col.kind, get(col.wire_property), col.name)
            raise
        return out

    return build


@lru_cache(maxsize=8192)
def parse_datetime(text: str) -> datetime:
    """Parse a Web API timestamp (``2024-05-01T10:00:00Z``) as an aware UTC datetime."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        # Python 3.10's fromisoformat accepts only 3 or 6 fractional digits.
        match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", cleaned)
        if not match or not match.group(2):
            raise
        frac = (match.group(2)[1:] + "000000")[:6]
        parsed = datetime.fromisoformat(f"{match.group(1)}.{frac}{match.group(3)}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def deleted_id(row: Mapping[str, Any]) -> str | None:
    """The id of a change-tracking ``$deletedEntity`` entry, or ``None`` for a normal row."""
    context = row.get("@odata.context")
    if isinstance(context, str) and context.endswith("$deletedEntity"):
        rid = row.get("id")
        return str(rid).lower() if rid is not None else None
    if row.get("reason") == "deleted" and "id" in row and len(row) <= 3:
        return str(row["id"]).lower()
    return None
