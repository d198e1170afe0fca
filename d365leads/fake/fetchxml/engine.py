"""Run a FetchXML query against a :class:`~.org.FetchOrg`: one page of result rows.

Rows come back keyed by logical column name (the entity's columns), ``alias.column`` for
link-entity columns (or the attribute's own alias), and the aliases of an aggregate query.
Null values are left out of a row, as the Web API leaves them out of FetchXML results. The
entity's primary key is always returned, except by ``distinct`` and aggregate queries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .aggregates import aggregate, aggregate_columns
from .conditions import compile_filters
from .errors import CODE_ATTRIBUTE_WITH_AGGREGATE, CODE_INVALID_ALIAS, FetchXmlError, no_attribute
from .joins import join, scopes_of
from .nodes import Fetch, Source
from .ordering import SortKey, compare, sort_rows
from .org import FetchOrg
from .paging import CookieColumn, PageSlice, build_cookie, read_cookie, slice_page
from .parser import parse
from .values import comparable

__all__ = ["FetchResult", "ResultColumn", "evaluate", "run"]


@dataclass(frozen=True)
class ResultColumn:
    """Where an output key comes from: scope (``""`` or a link alias), table, column, type."""

    key: str
    scope: str
    table: str
    column: str
    kind: str
    aggregate: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """One page of a FetchXML query."""

    entity: str
    """The logical name of the queried table."""
    rows: list[dict[str, Any]]
    columns: dict[str, ResultColumn]
    """Every output key (also those a row leaves out because its value is null)."""
    more_records: bool
    paging_cookie: str | None
    """The ``@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`` value, when more rows follow."""
    page: int


def evaluate(text: str, org: FetchOrg) -> FetchResult:
    """Parse and run the FetchXML ``text``; raises :class:`~.errors.FetchXmlError`."""
    return run(parse(text), org)


def run(fetch: Fetch, org: FetchOrg) -> FetchResult:
    """Run a parsed query (see :func:`evaluate`)."""
    scopes = scopes_of(fetch, org)
    accept = compile_filters(fetch.entity.filters, org, scopes, "")
    columns = None if fetch.aggregate else _projection(fetch, org)
    aggregated = aggregate_columns(fetch, org) if fetch.aggregate else None
    rows = [row for row in join(fetch, org, scopes) if accept(row)]
    if aggregated is not None:
        results = aggregate(fetch, aggregated, rows)
        sliced = slice_page(
            results,
            top=fetch.top,
            count=fetch.count,
            page=fetch.page,
            start_after=None,
            cookie=None,
        )
        out = {
            c.alias: ResultColumn(
                c.alias, c.scope, c.table, c.column, c.kind, c.attribute.aggregate
            )
            for c in aggregated
        }
        return FetchResult(
            fetch.entity.name, sliced.rows, out, sliced.more_records, None, fetch.page or 1
        )
    assert columns is not None
    sliced = _page(fetch, org, scopes, rows, columns)
    projected = [_project(row, columns) for row in sliced.rows]
    return FetchResult(
        fetch.entity.name,
        projected,
        {column.key: column for column in columns},
        sliced.more_records,
        sliced.paging_cookie,
        fetch.page or 1,
    )


def _projection(fetch: Fetch, org: FetchOrg) -> list[ResultColumn]:
    columns: list[ResultColumn] = []

    def add(source: Source, scope: str) -> None:
        names: list[tuple[str, str]] = []
        if source.all_attributes:
            names.extend((name, name) for name in org.columns(source.name))
        for attribute in source.attributes:
            if attribute.aggregate is not None or attribute.groupby:
                raise FetchXmlError(
                    CODE_ATTRIBUTE_WITH_AGGREGATE,
                    f"The attribute '{attribute.name}' has an aggregate or groupby, but the "
                    "fetch is not aggregate='true'.",
                )
            names.append((attribute.name, attribute.alias or attribute.name))
        if not scope and not fetch.distinct:
            primary = org.primary_id(source.name)
            names.append((primary, primary))
        seen = {column.key for column in columns}
        for name, alias in names:
            kind = org.column_type(source.name, name)
            if kind is None:
                raise no_attribute(source.name, name)
            key = alias if (not scope or alias != name) else f"{scope}.{name}"
            if key not in seen:
                seen.add(key)
                columns.append(ResultColumn(key, scope, source.name, name, kind))
        for link in getattr(source, "links", ()):
            add(link, link.alias)

    add(fetch.entity, "")
    return columns


def _project(row: Mapping[str, Any], columns: list[ResultColumn]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in columns:
        source = row.get(column.scope)
        value = None if source is None else source.get(column.column)
        if value is not None:
            out[column.key] = value
    return out


def _cell(scope: str, column: str, kind: str) -> Callable[[Mapping[str, Any]], Any]:
    def value(row: Mapping[str, Any]) -> Any:
        source = row.get(scope)
        return None if source is None else comparable(kind, source.get(column))

    return value


def _page(
    fetch: Fetch,
    org: FetchOrg,
    scopes: Mapping[str, str],
    rows: list[dict[str, Any]],
    columns: list[ResultColumn],
) -> PageSlice:
    keys: list[SortKey] = []
    cookie_columns: list[CookieColumn] = []
    cookie_ok = not fetch.distinct
    by_alias = {column.key: column for column in columns}
    for source, scope in [(fetch.entity, ""), *((link, link.alias) for link in fetch.all_links())]:
        for order in source.orders:
            if order.alias is not None:
                target = by_alias.get(order.alias)
                if target is None:
                    raise FetchXmlError(
                        CODE_INVALID_ALIAS, f"No attribute has the alias '{order.alias}'."
                    )
                where, table, name = target.scope, target.table, target.column
            else:
                where, table, name = scope, scopes[scope], str(order.attribute)
            kind = org.column_type(table, name)
            if kind is None:
                raise no_attribute(table, name)
            keys.append(SortKey(_cell(where, name, kind), order.descending))
            if where:
                # Sorting on a linked column gives no paging cookie (documented).
                cookie_ok = False
            else:
                cookie_columns.append(_cookie_column(name, kind))
    entity = fetch.entity.name
    primary = org.primary_id(entity)
    keys.append(SortKey(_cell("", primary, "guid")))
    cookie_columns.append(_cookie_column(primary, "guid", braces=True))
    keyed = sort_rows(rows, keys)
    if fetch.distinct:
        keyed = _distinct(keyed, columns)
    ordered = [row for _, row in keyed]

    start_after: Callable[[], int] | None = None
    if cookie_ok and fetch.paging_cookie and fetch.page and fetch.page > 1:
        after = read_cookie(fetch.paging_cookie, fetch.page, cookie_columns)
        if after is not None:
            start_after = lambda: _first_after(keyed, after, keys)  # noqa: E731

    def cookie(page: int, first: Any, last: Any) -> str:
        return build_cookie(page, first, last, cookie_columns)

    return slice_page(
        ordered,
        top=fetch.top,
        count=fetch.count,
        page=fetch.page,
        start_after=start_after,
        cookie=cookie if cookie_ok else None,
    )


def _cookie_column(name: str, kind: str, *, braces: bool = False) -> CookieColumn:
    def raw(row: Mapping[str, Any]) -> Any:
        value = row[""].get(name)
        if braces and value is not None:
            # the primary key is written as Dataverse writes it: {UPPER-CASE-GUID}
            return "{" + str(value).upper() + "}"
        return value

    def parse(text: str | None) -> Any:
        if text is None:
            return None
        if kind == "bool":
            # the cookie holds the text of the value: "True" / "False"
            return text.strip().lower() in ("true", "1")
        return comparable(kind, text)

    return CookieColumn(name, raw, parse)


def _distinct(
    keyed: list[tuple[tuple[Any, ...], dict[str, Any]]], columns: list[ResultColumn]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for key, row in keyed:
        projected = tuple(
            _cell(column.scope, column.column, column.kind)(row) for column in columns
        )
        if projected not in seen:
            seen.add(projected)
            kept.append((key, row))
    return kept


def _first_after(
    keyed: list[tuple[tuple[Any, ...], Any]], after: tuple[Any, ...], keys: list[SortKey]
) -> int:
    low, high = 0, len(keyed)
    while low < high:
        middle = (low + high) // 2
        if compare(keyed[middle][0], after, keys) <= 0:
            low = middle + 1
        else:
            high = middle
    return low
