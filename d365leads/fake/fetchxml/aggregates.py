"""``aggregate="true"``: count, countcolumn, sum, avg, min, max and groupby.

Nulls are left out of every aggregate except ``count`` (which counts rows); a group whose
values are all null sums to 0, as the documented example shows; ``avg`` of a whole-number
column is a whole number (3,911 for 35,200 / 9). An aggregate query over more rows than
50,000 (or its lower ``aggregatelimit``) fails with ``AggregateQueryRecordLimit exceeded``.
(https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/aggregate-data)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import (
    CODE_ATTRIBUTE_WITH_AGGREGATE,
    CODE_INVALID_ALIAS,
    CODE_INVALID_ARGUMENT,
    CODE_NO_ALIAS,
    FetchXmlError,
    aggregate_limit_exceeded,
    no_attribute,
)
from .nodes import Attribute, Fetch, Source
from .ordering import SortKey, sort_rows
from .org import FetchOrg
from .values import INT_TYPES, NUMBER_TYPES, comparable

__all__ = ["AGGREGATE_LIMIT", "AggregateColumn", "aggregate", "aggregate_columns"]

AGGREGATE_LIMIT = 50_000


@dataclass(frozen=True)
class AggregateColumn:
    """One output column of an aggregate query."""

    alias: str
    scope: str
    table: str
    column: str
    kind: str
    attribute: Attribute


def aggregate_columns(fetch: Fetch, org: FetchOrg) -> list[AggregateColumn]:
    """The aliased columns of an aggregate query, checked."""
    found: list[AggregateColumn] = []

    def visit(source: Source, scope: str) -> None:
        if source.all_attributes:
            raise FetchXmlError(
                CODE_ATTRIBUTE_WITH_AGGREGATE,
                "all-attributes can not be specified if an aggregate operation is requested.",
            )
        for attribute in source.attributes:
            if attribute.aggregate is None and not attribute.groupby:
                raise FetchXmlError(
                    CODE_ATTRIBUTE_WITH_AGGREGATE,
                    f"Attribute '{attribute.name}' can not be specified if an aggregate "
                    "operation is requested (give it an aggregate or groupby).",
                )
            if not attribute.alias:
                raise FetchXmlError(
                    CODE_NO_ALIAS,
                    f"An alias is required for the aggregate or groupby attribute "
                    f"'{attribute.name}'.",
                )
            kind = org.column_type(source.name, attribute.name)
            if kind is None:
                raise no_attribute(source.name, attribute.name)
            if attribute.aggregate in ("sum", "avg") and kind not in NUMBER_TYPES:
                raise FetchXmlError(
                    CODE_INVALID_ARGUMENT,
                    f"The aggregate '{attribute.aggregate}' needs a number column; "
                    f"'{source.name}.{attribute.name}' is {kind}.",
                )
            if any(column.alias == attribute.alias for column in found):
                raise FetchXmlError(
                    CODE_INVALID_ALIAS, f"The alias '{attribute.alias}' is used twice."
                )
            found.append(
                AggregateColumn(
                    attribute.alias, scope, source.name, attribute.name, kind, attribute
                )
            )
        for link in getattr(source, "links", ()):
            visit(link, link.alias)

    visit(fetch.entity, "")
    return found


def _value(row: Mapping[str, Any], column: AggregateColumn) -> Any:
    source = row.get(column.scope)
    return None if source is None else source.get(column.column)


def _reduce(column: AggregateColumn, rows: Sequence[Mapping[str, Any]]) -> Any:
    function = column.attribute.aggregate
    if function == "count" and not column.attribute.distinct:
        return len(rows)
    present = [v for v in (_value(row, column) for row in rows) if v is not None]
    if function in ("count", "countcolumn"):
        if column.attribute.distinct:
            return len({comparable(column.kind, v) for v in present})
        return len(present)
    if function in ("min", "max"):
        if not present:
            return None
        pick = min if function == "min" else max
        return pick(present, key=lambda v: comparable(column.kind, v))
    numbers = [comparable(column.kind, v) for v in present]
    total = sum(numbers, Decimal(0))
    if function == "sum":
        return _typed(column.kind, total)
    if not numbers:
        return None
    mean = total / len(numbers)
    return int(mean) if column.kind in INT_TYPES else _typed(column.kind, mean)


def _typed(kind: str, number: Decimal) -> Any:
    if kind in INT_TYPES:
        return int(number)
    if kind == "double":
        return float(number)
    return number


def aggregate(
    fetch: Fetch, columns: Sequence[AggregateColumn], rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The aggregate result rows (alias -> value; nulls left out), sorted by ``<order alias>``."""
    limit = min(fetch.aggregate_limit or AGGREGATE_LIMIT, AGGREGATE_LIMIT)
    if len(rows) > limit:
        raise aggregate_limit_exceeded()
    groupby = [column for column in columns if column.attribute.groupby]
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        key = tuple(comparable(column.kind, _value(row, column)) for column in groupby)
        groups.setdefault(key, []).append(row)
    if not groupby and not groups:
        groups[()] = []
    results: list[dict[str, Any]] = []
    for members in groups.values():
        result: dict[str, Any] = {}
        for column in columns:
            if column.attribute.groupby:
                value = _value(members[0], column) if members else None
            else:
                value = _reduce(column, members)
            if value is not None:
                result[column.alias] = value
        results.append(result)
    return _order(fetch, columns, results)


def _result_value(column: AggregateColumn) -> Callable[[Mapping[str, Any]], Any]:
    kind = "int" if column.attribute.aggregate in ("count", "countcolumn") else column.kind

    def value(row: Mapping[str, Any]) -> Any:
        return comparable(kind, row.get(column.alias))

    return value


def _order(
    fetch: Fetch, columns: Sequence[AggregateColumn], results: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    by_alias = {column.alias: column for column in columns}
    keys: list[SortKey] = []
    sources: list[Source] = [fetch.entity, *fetch.all_links()]
    for source in sources:
        for order in source.orders:
            if order.alias is None or order.alias not in by_alias:
                raise FetchXmlError(
                    CODE_INVALID_ALIAS,
                    "An aggregate query is ordered by the alias of one of its columns "
                    f"(<order alias='...'/>); got {order.attribute or order.alias!r}.",
                )
            keys.append(SortKey(_result_value(by_alias[order.alias]), order.descending))
    if not keys:
        return results
    return [row for _, row in sort_rows(results, keys)]
