"""``$orderby`` for the fake: :func:`sort_rows` and the sort keys of stored values.

Dataverse orders nulls first on ascending keys and last on descending ones, text
case-insensitively, and the primary key in SQL Server ``uniqueidentifier`` order
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/order-rows).

Every collection page that is not served from the query cache sorts all matching rows, so the
sort keys are computed once per row and pass (never per comparison), by a key function chosen
once per column type, and the two costly ones (a GUID's byte order, an ISO date-time string's
instant) are kept per value: after a write, only the rows written since get new keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar, get_args

from ..core.fault import not_implemented, property_not_found
from ..org.schema import Column, ColumnType, Table
from .odata_functions import QueryEnv
from .odata_lexer import syntax_error
from .odata_types import normalize_value

__all__ = ["OrderKey", "parse_orderby", "sort_rows", "sql_server_guid_order"]

_R = TypeVar("_R", bound=Mapping[str, Any])
_Key = Callable[[Any], Any]

# Kept sort keys per column kind: enough for every row of a 100,000-row table (a key holds a
# reference to the stored value and a 16-byte key or a datetime: ~20 MB when full).
_KEPT = 1 << 17

# The column kinds :func:`normalize_value` turns into something other than ``str(value)``.
_TYPED_KINDS = frozenset(get_args(ColumnType)) - {"string", "memo"}


class OrderKey(NamedTuple):
    """One ``$orderby`` key: the attribute name and whether it sorts descending."""

    column: str
    descending: bool


def parse_orderby(text: str, table: Table) -> list[OrderKey]:
    """Parse ``$orderby`` (``name asc, createdon desc``) into :class:`OrderKey` items.

    Properties are validated against ``table`` (lookups as ``_<name>_value``); the default
    direction is ascending.  Raises :class:`FakeFault` 400 for unknown columns or bad syntax.
    """
    keys: list[OrderKey] = []
    if not text.strip():
        raise syntax_error(f"Expression expected at position 0 in '{text}'.")
    offset = 0
    for item in text.split(","):
        words = item.split()
        if not words:
            raise syntax_error(f"Expression expected at position {offset} in '{text}'.")
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise syntax_error(
                f"Syntax error in $orderby '{text}': expected '<property> [asc|desc]', "
                f"found '{item.strip()}'."
            )
        name = words[0]
        if "/" in name:
            raise not_implemented(f"ordering by the related column '{name}'")
        if "(" in name or ")" in name:
            raise not_implemented(f"ordering by the expression '{name}'")
        column = table.column_for_property(name)
        if column is None:
            raise property_not_found(name, table.logical_name)
        keys.append(OrderKey(column.name, len(words) == 2 and words[1] == "desc"))
        offset += len(item) + 1
    return keys


def sql_server_guid_order(value: str) -> bytes:
    """The sort key of a GUID as SQL Server orders ``uniqueidentifier`` values: the last six
    bytes first, then bytes 8-9, then the first three groups from their last byte.

    Dataverse sorts by the primary key this way (the join-tables page lists task
    ``e9a8c72c-…`` before ``c206f534-…`` with otherwise equal ids); text order would not.
    """
    try:
        raw = bytes.fromhex(value.replace("-", ""))
    except ValueError:
        return value.encode()
    if len(raw) != 16:
        return value.encode()
    return raw[10:16] + raw[8:10] + raw[7:5:-1] + raw[5:3:-1] + raw[3::-1]


def _sort_value(value: Any, column: Column | None) -> Any:
    """The sort key of one non-null value (the reference every fast key below agrees with)."""
    if column is not None:
        value = normalize_value(column, value)
        if column.type == "guid" and isinstance(value, str):
            return sql_server_guid_order(value)
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        return int(value)
    return value


def _kept(column: Column) -> _Key:
    """``_sort_value`` for ``column``'s kind, kept per value (``typed``: ``1`` and ``True``, or
    ``"1"`` and a subclass of ``str``, never share a key)."""
    return lru_cache(maxsize=_KEPT, typed=True)(lambda value: _sort_value(value, column))


def _text_key(value: Any) -> str:
    return str(value).casefold()


# The kinds whose key costs a parse (GUID bytes, ISO date-times, decimals from floats).
_KEPT_KINDS = frozenset({"guid", "datetime", "date", "decimal", "money"})
_INT_KINDS = frozenset({"int", "bigint", "picklist", "state", "status"})

# One kept function per kind: the key depends on the column's kind only (normalize_value).
_kept_keys: dict[str, _Key] = {}


def _key_function(column: Column | None) -> _Key:
    """The cheapest function giving ``_sort_value(value, column)`` for ``column``."""
    if column is None:
        return lambda value: _sort_value(value, None)
    kind = column.type
    if kind not in _TYPED_KINDS:
        return _text_key  # normalize_value gives str(value), which sorts casefolded
    if kind in _KEPT_KINDS:
        key = _kept_keys.get(kind)
        if key is None:
            key = _kept_keys[kind] = _kept(column)
        return key
    if kind in _INT_KINDS:
        # A stored int is its own key; anything else (a bool, a float) goes the long way.
        return lambda value: value if type(value) is int else _sort_value(value, column)
    return lambda value: _sort_value(value, column)


def _lookup_name(column: Column, env: QueryEnv) -> Callable[[Mapping[str, Any]], Any]:
    """The primary name of the row a lookup points to (``None`` when it points nowhere),
    looked up once per related id and type for one sort."""
    resolve, table_of = env.resolve, env.table_of
    assert resolve is not None and table_of is not None
    names: dict[tuple[Any, Any], Any] = {}

    def name_of(row: Mapping[str, Any]) -> Any:
        related = row.get(column.name)
        if related is None:
            return None
        kind = row.get(column.type_attribute) if column.is_polymorphic else None
        try:
            return names[related, kind]
        except KeyError:
            pass
        except TypeError:  # an unhashable stored value: not kept
            return _name(related, kind)
        found = names[related, kind] = _name(related, kind)
        return found

    def _name(related: Any, kind: Any) -> Any:
        targets = column.targets
        if column.is_polymorphic and kind in targets:
            targets = (kind,)
        for target in targets:
            meta = table_of(target)
            found = resolve(target, str(related).lower()) if meta is not None else None
            if meta is not None and found is not None:
                name = found.get(meta.primary_name)
                return name.casefold() if isinstance(name, str) else name
        return None

    return name_of


def _ordered(rows: list[_R], values: list[Any], key: _Key, descending: bool) -> list[_R]:
    """``rows`` stably sorted by ``key`` of their ``values``; nulls first ascending, last
    descending."""
    nulls = [row for row, value in zip(rows, values, strict=True) if value is None]
    if nulls:
        rows = [row for row, value in zip(rows, values, strict=True) if value is not None]
        values = [value for value in values if value is not None]
    keys = list(map(key, values))
    order = sorted(range(len(keys)), key=keys.__getitem__, reverse=descending)
    valued = [rows[i] for i in order]
    return valued + nulls if descending else nulls + valued


def sort_rows(
    rows: Iterable[_R],
    orderby: str | Sequence[tuple[str, bool]],
    table: Table | None = None,
    env: QueryEnv | None = None,
) -> list[_R]:
    """Return ``rows`` sorted by ``orderby``, stably.

    ``orderby`` is ``$orderby`` text (parsed with :func:`parse_orderby`; needs ``table``) or
    already parsed ``(attribute, descending)`` pairs.  Nulls sort first on ascending keys and
    last on descending ones (SQL Server order); strings sort case-insensitively.  With
    ``table``, values are normalised by column type (ISO date-time strings sort as instants).
    With ``env`` (related rows), a lookup sorts by the related row's primary name, as the
    order-rows doc says; rows pointing nowhere sort as nulls.
    """
    if isinstance(orderby, str):
        if table is None:
            raise TypeError("sort_rows needs the table to parse $orderby text")
        keys: Sequence[tuple[str, bool]] = parse_orderby(orderby, table)
    else:
        keys = orderby
    result = list(rows)
    # One stable sort per key, the last key first: mixed directions need no key inversion.
    for name, descending in reversed(list(keys)):
        column = table.column(name) if table is not None else None
        if (
            column is not None
            and column.is_lookup
            and env is not None
            and env.resolve is not None
            and env.table_of is not None
        ):
            name_of = _lookup_name(column, env)
            values = [name_of(row) for row in result]
            column = None
        else:
            values = [row.get(name) for row in result]
        result = _ordered(result, values, _key_function(column), descending)
    return result
