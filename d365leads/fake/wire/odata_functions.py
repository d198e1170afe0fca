"""Dataverse query functions in ``$filter``: ``Microsoft.Dynamics.CRM.In(PropertyName='x',
PropertyValues=['a','b'])`` and the other condition functions of the Web API.

https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
(list: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/queryfunctions)

* sets and ranges: ``In``, ``NotIn``, ``Between``, ``NotBetween`` (values typed by the column;
  strings compare case-insensitively);
* dates (the fake's clock, UTC days, weeks starting on Sunday): ``Today``, ``Yesterday``,
  ``Tomorrow``, ``Last7Days``, ``Next7Days``, ``Last/This/NextWeek|Month|Year``,
  ``LastX``/``NextX`` ``Hours|Days|Weeks|Months|Years``, ``OlderThanX`` ``Minutes|Hours|Days|
  Weeks|Months|Years``, ``On``, ``OnOrAfter``, ``OnOrBefore``;
* the caller: ``EqualUserId``, ``NotEqualUserId``, ``EqualBusinessId``, ``NotEqualBusinessId``;
* hierarchies (a table's self-referencing lookup, ``account.parentaccountid``): ``Above``,
  ``AboveOrEqual``, ``Under``, ``UnderOrEqual``, ``NotUnder``;
* ``ContainValues`` / ``DoesNotContainValues`` need a multi-select choice column, which the fake
  has none of (400 naming the column); fiscal-period and team functions answer 501.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from ..core.fault import not_implemented
from ..org.schema import Column, Relationship, Table
from .odata_lexer import Token, parse_datetime, syntax_error
from .odata_types import edm_of_column

__all__ = ["QueryEnv", "QueryFunc", "compile_query_function", "make_query_function"]

_NS = "Microsoft.Dynamics.CRM."
_SETS = {"In", "NotIn", "Between", "NotBetween", "ContainValues", "DoesNotContainValues"}
_PERIODS = {
    f"{when}{unit}" for when in ("Last", "This", "Next") for unit in ("Week", "Month", "Year")
}
_NO_VALUE = {
    "Today", "Yesterday", "Tomorrow", "Last7Days", "Next7Days", *_PERIODS,
    "EqualUserId", "NotEqualUserId", "EqualBusinessId", "NotEqualBusinessId",
}  # fmt: skip
_RELATIVE = {
    f"{when}X{unit}"
    for when in ("Last", "Next")
    for unit in ("Hours", "Days", "Weeks", "Months", "Years")
} | {f"OlderThanX{unit}" for unit in ("Minutes", "Hours", "Days", "Weeks", "Months", "Years")}
_HIERARCHY = {"Above", "AboveOrEqual", "Under", "UnderOrEqual", "NotUnder"}
_ONE_VALUE = _RELATIVE | _HIERARCHY | {"On", "OnOrAfter", "OnOrBefore"}
_UNMODELLED = {
    "InFiscalPeriod", "InFiscalPeriodAndYear", "InFiscalYear", "InOrAfterFiscalPeriodAndYear",
    "InOrBeforeFiscalPeriodAndYear", "LastFiscalPeriod", "LastFiscalYear", "LastXFiscalPeriods",
    "LastXFiscalYears", "NextFiscalPeriod", "NextFiscalYear", "NextXFiscalPeriods",
    "NextXFiscalYears", "ThisFiscalPeriod", "ThisFiscalYear", "EqualUserLanguage",
    "EqualUserOrUserHierarchy", "EqualUserOrUserHierarchyAndTeams", "EqualUserOrUserTeams",
    "EqualUserTeams", "EqualRoleBusinessId",
}  # fmt: skip
_DATE_TYPES = {"datetime", "date"}
_DATED = _PERIODS | _RELATIVE | {
    "Today", "Yesterday", "Tomorrow", "Last7Days", "Next7Days", "On", "OnOrAfter", "OnOrBefore",
}  # fmt: skip

Row = Mapping[str, Any]
Tri = Callable[[Row], "bool | None"]


@dataclass(frozen=True)
class QueryEnv:
    """What query functions and lookup paths read besides the row: the request time, the
    caller, and the org's tables and rows (``resolve(table, id)`` -> row or ``None``)."""

    now: datetime | None = None
    user_id: str | None = None
    business_unit_id: str | None = None
    table_of: Callable[[str], Table | None] | None = None
    resolve: Callable[[str, str], Row | None] | None = None
    relationship: Callable[[str, str], Relationship | None] | None = None
    """``(table, collection navigation)`` -> the relationship, for ``any``/``all``."""
    related: Callable[[Relationship, Row], Sequence[Row]] | None = None
    """The rows of a relationship that point at a row, for ``any``/``all``."""


@dataclass(frozen=True)
class QueryFunc:
    """A query function applied to one property (``prop`` is the parser's ``Prop``)."""

    name: str
    prop: Any
    values: tuple[Any, ...]
    table: Table


def _signature_error(name: str, detail: str) -> Exception:
    return syntax_error(f"{_NS}{name}: {detail}")


def _typed(name: str, column: Column, tok: Token) -> Any:
    """One parameter value converted to ``column``'s type (400 when it does not fit)."""
    raw = tok.value if tok.kind in ("string", "dstring") else tok.text
    kind = column.type
    try:
        if kind in ("string", "memo"):
            return str(raw)
        if kind in ("int", "bigint", "picklist", "state", "status"):
            return int(str(raw))
        if kind in ("decimal", "money"):
            return Decimal(str(raw))
        if kind == "datetime":
            text = str(raw)
            return parse_datetime(text) if "T" in text else date.fromisoformat(text)
        if kind == "date":
            return date.fromisoformat(str(raw)[:10])
        if kind == "bool":
            if str(raw).lower() in ("true", "1"):
                return True
            if str(raw).lower() in ("false", "0"):
                return False
            raise ValueError(raw)
        return str(uuid.UUID(str(raw)))
    except (ValueError, InvalidOperation):
        raise _signature_error(
            name,
            f"the value '{raw}' is not valid for the property '{column.name}' "
            f"({edm_of_column(column)}).",
        ) from None


def make_query_function(
    name: str, prop: Any, table: Table, args: Mapping[str, Token | list[Token]]
) -> QueryFunc:
    """Check the parameters of ``Microsoft.Dynamics.CRM.<name>`` over ``prop`` and type them.

    ``args`` maps parameter names other than ``PropertyName`` to a token or a list of tokens.
    """
    column: Column = prop.column
    if name in _UNMODELLED:
        raise not_implemented(f"the query function {_NS}{name} in $filter")
    if name not in _SETS | _NO_VALUE | _ONE_VALUE:
        raise syntax_error(
            f"'{_NS}{name}' is not a Dataverse query function; see "
            "https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/"
            "queryfunctions"
        )
    expected = (
        {"PropertyValues"} if name in _SETS else {"PropertyValue"} if name in _ONE_VALUE else set()
    )
    if set(args) != expected:
        wanted = ", ".join(["PropertyName", *sorted(expected)])
        raise _signature_error(name, f"the parameters are {wanted}.")
    if name in ("ContainValues", "DoesNotContainValues"):
        raise _signature_error(
            name, f"the property '{column.name}' is not a multi-select choice column."
        )
    if name in _DATED and column.type not in _DATE_TYPES:
        raise _signature_error(name, f"the property '{column.name}' is not a date and time column.")
    if name in _HIERARCHY and (column.name != table.primary_key or prop.path):
        raise _signature_error(name, f"use the primary key '{table.primary_key}' as PropertyName.")
    values: tuple[Any, ...] = ()
    if name in _SETS:
        raw = args["PropertyValues"]
        items = raw if isinstance(raw, list) else [raw]
        values = tuple(_typed(name, column, tok) for tok in items)
        if name in ("Between", "NotBetween") and len(values) != 2:
            raise _signature_error(name, "PropertyValues takes exactly two values.")
        if not values:
            raise _signature_error(name, "PropertyValues is empty.")
    elif name in _ONE_VALUE:
        raw = args["PropertyValue"]
        if isinstance(raw, list):
            raise _signature_error(name, "PropertyValue takes one value, not a list.")
        if name in _RELATIVE:
            if raw.kind not in ("number", "string", "dstring"):
                raise _signature_error(name, "PropertyValue is a whole number.")
            try:
                count = int(str(raw.value if raw.kind != "number" else raw.text))
            except ValueError:
                raise _signature_error(name, "PropertyValue is a whole number.") from None
            values = (count,)
        else:
            values = (_typed(name, column, raw),)
    return QueryFunc(name, prop, values, table)


# --- evaluation ---------------------------------------------------------------------------


def _add_months(when: datetime, months: int) -> datetime:
    index = when.year * 12 + (when.month - 1) + months
    year, month = divmod(index, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def _as_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=timezone.utc)


def _period(name: str, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of a named calendar period around ``now``."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    if name in ("Today", "Yesterday", "Tomorrow"):
        start = today + {"Today": 0, "Yesterday": -1, "Tomorrow": 1}[name] * day
        return start, start + day
    shift = {"Last": -1, "This": 0, "Next": 1}[name[:4]]
    unit = name[4:]
    if unit == "Week":
        week = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
        start = week + shift * timedelta(days=7)
        return start, start + timedelta(days=7)
    if unit == "Month":
        start = _add_months(today.replace(day=1), shift)
        return start, _add_months(start, 1)
    start = today.replace(month=1, day=1)
    start = start.replace(year=start.year + shift)
    return start, start.replace(year=start.year + 1)


def _relative(name: str, count: int, now: datetime) -> tuple[datetime | None, datetime | None]:
    """``[start, end]`` bounds of a LastX/NextX/OlderThanX function (``None`` = open)."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    unit = name.rsplit("X", 1)[1]
    if name.startswith("OlderThan"):
        if unit in ("Minutes", "Hours"):
            seconds = 60 if unit == "Minutes" else 3600
            return None, now - timedelta(seconds=seconds * count)
        if unit in ("Days", "Weeks"):
            return None, today - timedelta(days=count * (7 if unit == "Weeks" else 1))
        return None, _add_months(today, -count * (12 if unit == "Years" else 1))
    if unit == "Hours":
        delta = timedelta(hours=count)
        return (now - delta, now) if name.startswith("Last") else (now, now + delta)
    if unit in ("Days", "Weeks"):
        days = count * (7 if unit == "Weeks" else 1)
        if name.startswith("Last"):
            return today - timedelta(days=days), now
        return now, today + timedelta(days=days + 1) - timedelta(microseconds=1)
    months = count * (12 if unit == "Years" else 1)
    if name.startswith("Last"):
        return _add_months(today, -months), now
    return now, _add_months(today, months) + timedelta(days=1) - timedelta(microseconds=1)


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _hierarchy_column(table: Table) -> Column:
    for column in table.columns:
        if column.type == "lookup" and column.targets == (table.logical_name,):
            return column
    raise syntax_error(f"The table '{table.logical_name}' has no hierarchical relationship.")


def _hierarchy(func: QueryFunc, env: QueryEnv) -> Tri:
    table = func.table
    parent = _hierarchy_column(table).name
    resolve = env.resolve
    if resolve is None:
        raise not_implemented(f"the query function {_NS}{func.name} here")
    anchor = str(func.values[0])

    def ancestors(record_id: str | None) -> list[str]:
        chain: list[str] = []
        while record_id is not None and len(chain) < 1000 and record_id not in chain:
            row = resolve(table.logical_name, record_id)
            if row is None:
                break
            chain.append(record_id)
            value = row.get(parent)
            record_id = str(value).lower() if value is not None else None
        return chain

    name = func.name
    if name in ("Above", "AboveOrEqual"):
        above = ancestors(anchor)
        wanted = set(above if name == "AboveOrEqual" else above[1:])
        return lambda row: str(row.get(table.primary_key)).lower() in wanted
    or_equal = name == "UnderOrEqual"

    def under(row: Row) -> bool | None:
        chain = ancestors(str(row.get(table.primary_key)).lower())
        found = anchor in (chain if or_equal else chain[1:])
        return (not found) if name == "NotUnder" else found

    return under


def compile_query_function(func: QueryFunc, value_of: Callable[[Row], Any], env: QueryEnv) -> Tri:
    """The three-valued predicate of ``func``; ``value_of(row)`` is the property's value."""
    name = func.name
    if name in _HIERARCHY:
        return _hierarchy(func, env)
    if name in ("In", "NotIn"):
        wanted = {_fold(v) for v in func.values}
        negate = name == "NotIn"

        def member(row: Row) -> bool | None:
            value = value_of(row)
            return None if value is None else (_fold(value) in wanted) != negate

        return member
    if name in ("Between", "NotBetween"):
        low, high = (_fold(v) for v in func.values)
        negate = name == "NotBetween"

        def between(row: Row) -> bool | None:
            value = value_of(row)
            if value is None:
                return None
            inside = bool(low <= _fold(value) <= high)
            return inside != negate

        return between
    if name in ("EqualUserId", "NotEqualUserId", "EqualBusinessId", "NotEqualBusinessId"):
        target = env.user_id if "User" in name else env.business_unit_id
        if target is None:
            raise not_implemented(f"the query function {_NS}{name} here")
        expected = target.lower()
        negate = name.startswith("Not")

        def caller(row: Row) -> bool | None:
            value = value_of(row)
            return None if value is None else (str(value).lower() == expected) != negate

        return caller
    if name in ("On", "OnOrAfter", "OnOrBefore"):
        day = func.values[0]
        day = day.date() if isinstance(day, datetime) else day

        def on(row: Row) -> bool | None:
            value = value_of(row)
            if value is None:
                return None
            got = value.date() if isinstance(value, datetime) else value
            if name == "On":
                return bool(got == day)
            return bool(got >= day) if name == "OnOrAfter" else bool(got <= day)

        return on
    if env.now is None:
        raise not_implemented(f"the query function {_NS}{name} here")
    now = env.now
    low_bound: datetime | None
    high_bound: datetime | None
    if name in _RELATIVE:
        low_bound, high_bound = _relative(name, int(func.values[0]), now)
        inclusive_high = True
    else:
        count_days = {"Last7Days": -7, "Next7Days": 7}.get(name)
        if count_days is not None:
            relative = "LastXDays" if count_days < 0 else "NextXDays"
            low_bound, high_bound = _relative(relative, abs(count_days), now)
            inclusive_high = True
        else:
            low_bound, high_bound = _period(name, now)
            inclusive_high = False
    older = name.startswith("OlderThan")

    def in_range(row: Row) -> bool | None:
        value = value_of(row)
        if value is None:
            return None
        when = _as_instant(value)
        if older:
            assert high_bound is not None
            return bool(when < high_bound)
        if low_bound is not None and when < low_bound:
            return False
        if high_bound is not None:
            return bool(when <= high_bound) if inclusive_high else bool(when < high_bound)
        return True

    return in_range
