"""Filters and conditions compiled into predicates over joined rows.

A joined row maps each scope (``""`` for the query's entity, else a link-entity alias) to its
row, or to ``None`` when an outer join found nothing. Comparisons follow SQL: a null cell
matches only ``null`` (so ``ne``, ``not-like`` and ``not-in`` skip nulls, as in Dataverse).
The date operators read the org's clock; days are UTC days.
(https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/reference/operators)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from .dates import add_months, start_of_day
from .errors import CODE_INVALID_ALIAS, CODE_INVALID_OPERATOR, FetchXmlError, no_attribute
from .nodes import Condition, Filter
from .org import FetchOrg
from .values import DATE_TYPES, GUID_TYPES, TEXT_TYPES, comparable, parse_value

__all__ = ["JoinedRow", "Predicate", "compile_filters"]

JoinedRow = Mapping[str, "Mapping[str, Any] | None"]
Predicate = Callable[[JoinedRow], bool]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: bool(a == b),
    "ne": lambda a, b: bool(a != b),
    "neq": lambda a, b: bool(a != b),
    "gt": lambda a, b: bool(a > b),
    "ge": lambda a, b: bool(a >= b),
    "lt": lambda a, b: bool(a < b),
    "le": lambda a, b: bool(a <= b),
}
_NO_VALUE = frozenset({"null", "not-null", "eq-userid", "ne-userid", "eq-businessid", "this-year"})
_MANY_VALUES = frozenset({"in", "not-in"})
_TEXT_ONLY = frozenset({"like", "not-like", "begins-with", "ends-with"})
_GUID_ONLY = frozenset({"eq-userid", "ne-userid", "eq-businessid"})
_DATE_ONLY = frozenset(
    {
        "on", "on-or-after", "on-or-before", "last-x-days", "next-x-days", "last-x-months",
        "this-year", "older-than-x-months",
    }
)  # fmt: skip
_COUNTED = frozenset({"last-x-days", "next-x-days", "last-x-months", "older-than-x-months"})


def compile_filters(
    filters: tuple[Filter, ...], org: FetchOrg, scopes: Mapping[str, str], scope: str
) -> Predicate:
    """One predicate for ``filters`` (combined with *and*) of the source named ``scope``.

    ``scopes`` maps each alias a condition may name with ``entityname`` to its table.
    """
    compiled = [_compile_filter(item, org, scopes, scope) for item in filters]
    return lambda row: all(test(row) for test in compiled)


def _compile_filter(
    node: Filter, org: FetchOrg, scopes: Mapping[str, str], scope: str
) -> Predicate:
    parts = [
        _compile_filter(item, org, scopes, scope)
        if isinstance(item, Filter)
        else _compile_condition(item, org, scopes, scope)
        for item in node.items
    ]
    if node.type == "or":
        return lambda row: any(test(row) for test in parts) if parts else True
    return lambda row: all(test(row) for test in parts)


def _invalid_operator(operator: str, table: str, column: str, why: str) -> FetchXmlError:
    return FetchXmlError(
        CODE_INVALID_OPERATOR,
        f"The condition operator '{operator}' is not valid on '{table}.{column}': {why}.",
    )


def _compile_condition(
    condition: Condition, org: FetchOrg, scopes: Mapping[str, str], scope: str
) -> Predicate:
    where = condition.entityname or scope
    if where not in scopes:
        raise FetchXmlError(
            CODE_INVALID_ALIAS,
            f"The entityname '{condition.entityname}' of a condition names no link-entity alias.",
        )
    table, column, op = scopes[where], condition.attribute, condition.operator
    kind = org.column_type(table, column)
    if kind is None:
        raise no_attribute(table, column)
    _check_arity(condition, table)
    if op in _TEXT_ONLY and kind not in TEXT_TYPES:
        raise _invalid_operator(op, table, column, "it applies to text columns only")
    if op in _GUID_ONLY and kind not in GUID_TYPES:
        raise _invalid_operator(op, table, column, "it applies to lookup and id columns only")
    if op in _DATE_ONLY and kind not in DATE_TYPES:
        raise _invalid_operator(op, table, column, "it applies to date and time columns only")

    def cell(row: JoinedRow) -> Any:
        source = row.get(where)
        return None if source is None else comparable(kind, source.get(column))

    test = _operator_test(condition, kind, org, table)
    return lambda row: test(cell(row))


def _check_arity(condition: Condition, table: str) -> None:
    op, count = condition.operator, len(condition.values)
    if op in _NO_VALUE:
        expected_ok, wanted = count == 0, "no value"
    elif op in _MANY_VALUES:
        expected_ok, wanted = count >= 1, "at least one <value>"
    else:
        expected_ok, wanted = count == 1, "exactly one value"
    if not expected_ok:
        raise FetchXmlError(
            CODE_INVALID_OPERATOR,
            f"The condition '{op}' on '{table}.{condition.attribute}' takes {wanted}, got {count}.",
        )


def _operator_test(
    condition: Condition, kind: str, org: FetchOrg, table: str
) -> Callable[[Any], bool]:
    op, column = condition.operator, condition.attribute

    def typed(text: str) -> Any:
        return parse_value(kind, text, table=table, column=column)

    if op == "null":
        return lambda value: value is None
    if op == "not-null":
        return lambda value: value is not None
    if op in _COMPARE:
        compare, target = _COMPARE[op], typed(condition.values[0])
        return lambda value: value is not None and compare(value, target)
    if op in ("in", "not-in"):
        targets = {typed(text) for text in condition.values}
        inside = op == "in"
        return lambda value: value is not None and (value in targets) == inside
    if op in _TEXT_ONLY:
        return _text_test(op, condition.values[0])
    if op in _GUID_ONLY:
        me = (org.business_unit_id() if op == "eq-businessid" else org.user_id()).lower()
        same = op != "ne-userid"
        return lambda value: value is not None and (value == me) == same
    return _date_test(op, condition, org, typed)


def _text_test(op: str, text: str) -> Callable[[Any], bool]:
    folded = text.casefold()
    if op == "begins-with":
        return lambda value: value is not None and value.startswith(folded)
    if op == "ends-with":
        return lambda value: value is not None and value.endswith(folded)
    pattern = re.compile(_like_pattern(folded), re.DOTALL)
    matches = op == "like"
    return lambda value: value is not None and bool(pattern.fullmatch(value)) == matches


def _like_pattern(text: str) -> str:
    # SQL LIKE: % is any run of characters, _ exactly one; everything else is literal.
    return "".join(
        ".*" if char == "%" else "." if char == "_" else re.escape(char) for char in text
    )


def _date_test(
    op: str, condition: Condition, org: FetchOrg, typed: Callable[[str], Any]
) -> Callable[[Any], bool]:
    now = org.now()
    if op == "this-year":
        year = now.year
        return lambda value: value is not None and value.year == year
    if op in _COUNTED:
        count = _count(condition)
        today = start_of_day(now)
        bounds: tuple[datetime | None, datetime | None]
        if op == "last-x-days":
            bounds = (today - timedelta(days=count), now)
        elif op == "next-x-days":
            bounds = (now, today + timedelta(days=count + 1) - timedelta(microseconds=1))
        elif op == "last-x-months":
            bounds = (add_months(today, -count), now)
        else:  # older-than-x-months
            bounds = (None, add_months(now, -count) - timedelta(microseconds=1))
        low, high = bounds
        return lambda value: (
            value is not None and (low is None or value >= low) and (high is None or value <= high)
        )
    day = typed(condition.values[0]).date()
    if op == "on":
        return lambda value: value is not None and value.date() == day
    if op == "on-or-after":
        return lambda value: value is not None and value.date() >= day
    return lambda value: value is not None and value.date() <= day


def _count(condition: Condition) -> int:
    text = condition.values[0].strip()
    if not text.isdigit():
        raise FetchXmlError(
            CODE_INVALID_OPERATOR,
            f"The condition '{condition.operator}' on '{condition.attribute}' needs a whole "
            f"number of at least 0, got '{condition.values[0]}'.",
        )
    return int(text)
