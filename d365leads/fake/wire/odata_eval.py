"""The fake server's own OData query evaluator (``$filter``, ``$orderby``, ``$select``).

Written independently of the client's query builder, so a misunderstanding in the client cannot
hide behind a matching misunderstanding here.  It follows what Dataverse accepts
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows):

* comparison operators ``eq ne gt ge lt le``, logical ``and or not``, parentheses;
* ``contains``, ``startswith``, ``endswith`` (case-insensitive, like every string comparison;
  their argument is a T-SQL ``LIKE`` pattern as in Dataverse: ``%``, ``_``, ``[a-c]``,
  ``[^a]``, ``[%]`` for a literal, see :func:`like_pattern`);
* literals: ``null``, ``true``/``false``, integers, decimals (``1.5``, ``2M``), doubles
  (``1e3``), strings with doubled single quotes (``'O''Hara'``), GUIDs (unquoted, and quoted
  when ``accept_quoted_guid`` is on), dates (``2024-01-31``) and date-times
  (``2024-01-31T12:00:00Z``, an offset, or no zone = UTC), parameter aliases (``@p1``);
* lookup properties as ``_<name>_value``; column-to-column comparison; lookup paths
  (``primarycontactid/fullname``), ``Microsoft.Dynamics.CRM.*`` query functions
  (:mod:`~d365leads.fake.wire.odata_functions`) and ``any``/``all`` over collection-valued
  navigations (:mod:`~d365leads.fake.wire.odata_lambda`), given a :class:`QueryEnv`;
* comparisons are typed by the schema column (date-times as instants, money as decimals,
  GUIDs case-insensitive); a ``null`` column makes any comparison except ``eq null`` /
  ``ne null`` *unknown* (SQL three-valued logic, so ``ne`` does not match empty columns, as in
  Dataverse).

Errors are :class:`~d365leads.fake.core.fault.FakeFault`:

* unknown column -> 400 ``0x80060888`` "Could not find a property named 'x' on type
  'Microsoft.Dynamics.CRM.<table>'.";
* syntax and type errors -> 400 ``0x80060888`` with the position (0-based) and the text;
* recognised but unimplemented features (fiscal-period and team query functions, other OData
  built-in functions, arithmetic, ``in``/``has``) -> 501 naming the feature.

Public functions:

* :func:`compile_filter` ``(text, table, aliases=None, *, accept_quoted_guid=True)`` ->
  ``predicate(row) -> bool`` over stored rows (keys are attribute names; lookups stored under
  the attribute name as a GUID string).
* :func:`parse_orderby` ``(text, table)`` -> ``list[OrderKey]``; ``OrderKey`` is a
  ``(column, descending)`` named tuple of the *attribute* name.
* :func:`sort_rows` ``(rows, orderby, table=None)`` -> a new sorted list; ``orderby`` is the
  ``$orderby`` text or parsed keys; nulls first on ascending keys and last on descending ones
  (SQL Server order), strings case-insensitive.
* :func:`parse_select` ``(text, table)`` -> attribute names, in order, without duplicates;
  lookups must be selected as ``_<name>_value`` (and come back as the attribute name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timezone
from typing import Any, TypeVar

from ..core.fault import not_implemented, property_not_found
from ..org.schema import Table
from .odata_functions import QueryEnv, QueryFunc, compile_query_function
from .odata_lexer import Constant, syntax_error
from .odata_parser import Compare, Lambda, Logical, Node, Not, Parser, Prop, StringFunc
from .odata_sort import OrderKey, parse_orderby, sort_rows, sql_server_guid_order
from .odata_types import like_pattern, normalize_value

__all__ = [
    "OrderKey",
    "Predicate",
    "QueryEnv",
    "compile_filter",
    "like_pattern",
    "normalize_value",
    "parse_orderby",
    "parse_select",
    "sort_rows",
    "sql_server_guid_order",
]

Predicate = Callable[[Mapping[str, Any]], bool]
_R = TypeVar("_R", bound=Mapping[str, Any])


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    """Make two normalised values comparable (case-insensitive text, dates vs date-times)."""
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold(), b.casefold()
    if isinstance(a, datetime) and not isinstance(b, datetime) and isinstance(b, date):
        return a, datetime.combine(b, time(0), tzinfo=timezone.utc)
    if isinstance(b, datetime) and not isinstance(a, datetime) and isinstance(a, date):
        return datetime.combine(a, time(0), tzinfo=timezone.utc), b
    return a, b


_Value = Callable[[Mapping[str, Any]], Any]
_Tri = Callable[[Mapping[str, Any]], "bool | None"]


def _raw_getter(prop: Prop, env: QueryEnv) -> _Value:
    """The stored value of ``prop`` in a row, following its navigation path first."""
    key = prop.column.name
    if not prop.path:
        return lambda row: row.get(key)
    resolve = env.resolve
    if resolve is None:
        raise not_implemented(f"filtering through the navigation path to '{prop.name}' here")
    hops = prop.path

    def follow(row: Mapping[str, Any]) -> Any:
        current: Mapping[str, Any] | None = row
        for column, target in hops:
            assert current is not None
            related = current.get(column.name)
            if related is None:
                return None
            if column.is_polymorphic and current.get(column.type_attribute) not in (None, target):
                return None  # customerid_contact/... on a row whose customer is an account
            current = resolve(target, str(related).lower())
            if current is None:
                return None
        return None if current is None else current.get(key)

    return follow


def _value_getter(node: Prop | Constant, env: QueryEnv) -> _Value:
    if isinstance(node, Constant):
        constant = node.value
        return lambda row: constant
    column = node.column
    raw = _raw_getter(node, env)
    return lambda row: normalize_value(column, raw(row))


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if op == "eq" and (a is None or b is None):
        return a is None and b is None
    if op == "ne" and (a is None or b is None):
        return not (a is None and b is None)
    if a is None or b is None:
        return None
    x, y = _comparable(a, b)
    try:
        if op == "eq":
            return bool(x == y)
        if op == "ne":
            return bool(x != y)
        if op == "gt":
            return bool(x > y)
        if op == "ge":
            return bool(x >= y)
        if op == "lt":
            return bool(x < y)
        return bool(x <= y)
    except TypeError:
        return None


def _compile(node: Node, env: QueryEnv) -> _Tri:
    if isinstance(node, QueryFunc):
        return compile_query_function(node, _value_getter(node.prop, env), env)
    if isinstance(node, Lambda):
        return _lambda(node, env)
    if isinstance(node, Compare):
        left = _value_getter(node.left, env)  # type: ignore[arg-type]
        right = _value_getter(node.right, env)  # type: ignore[arg-type]
        op = node.op
        # eq/ne null keep two-valued semantics: "x eq null" is "x is null".
        null_test = (isinstance(node.right, Constant) and node.right.edm == "null") or (
            isinstance(node.left, Constant) and node.left.edm == "null"
        )
        if null_test and op in ("eq", "ne"):
            return lambda row: _compare(op, left(row), right(row))

        def compare(row: Mapping[str, Any]) -> bool | None:
            a, b = left(row), right(row)
            if a is None or b is None:
                return None  # SQL semantics: a null column is unknown, even for ne
            return _compare(op, a, b)

        return compare
    if isinstance(node, Logical):
        lhs, rhs = _compile(node.left, env), _compile(node.right, env)
        if node.op == "and":

            def both(row: Mapping[str, Any]) -> bool | None:
                a = lhs(row)
                if a is False:
                    return False
                b = rhs(row)
                if b is False:
                    return False
                return True if a and b else None

            return both

        def either(row: Mapping[str, Any]) -> bool | None:
            a = lhs(row)
            if a is True:
                return True
            b = rhs(row)
            if b is True:
                return True
            return False if a is False and b is False else None

        return either
    if isinstance(node, Not):
        inner = _compile(node.operand, env)

        def negate(row: Mapping[str, Any]) -> bool | None:
            value = inner(row)
            return None if value is None else not value

        return negate
    if isinstance(node, StringFunc):
        text_of = _raw_getter(node.prop, env)
        body = like_pattern(node.needle)
        pattern = re.compile(
            {"contains": f".*{body}.*", "startswith": f"{body}.*", "endswith": f".*{body}"}[
                node.name
            ],
            re.IGNORECASE | re.DOTALL,
        )

        def string_func(row: Mapping[str, Any]) -> bool | None:
            value = text_of(row)
            return None if value is None else pattern.fullmatch(str(value)) is not None

        return string_func
    if isinstance(node, Prop):  # a bare boolean column
        flag_of = _raw_getter(node, env)

        def flag(row: Mapping[str, Any]) -> bool | None:
            value = flag_of(row)
            return None if value is None else bool(value)

        return flag
    constant = bool(node.value)
    return lambda row: constant


def _lambda(node: Lambda, env: QueryEnv) -> _Tri:
    related = env.related
    if related is None:
        raise not_implemented(f"the lambda operator on '{node.relationship.name}' here")
    body = _compile(node.body, env) if node.body is not None else None
    relationship, every = node.relationship, node.kind == "all"

    def quantified(row: Mapping[str, Any]) -> bool:
        rows = related(relationship, row)
        if body is None:
            return bool(rows)
        if every:
            return all(body(r) is True for r in rows)
        return any(body(r) is True for r in rows)

    return quantified


def compile_filter(
    text: str,
    table: Table,
    aliases: Mapping[str, str] | None = None,
    *,
    accept_quoted_guid: bool = True,
    env: QueryEnv | None = None,
) -> Predicate:
    """Parse a ``$filter`` expression for ``table`` and return a predicate over stored rows.

    ``aliases`` maps parameter aliases (``"@p1"``) to their literal text from the query string
    (``{k: v for k, v in request.query if k.startswith("@")}``).  ``accept_quoted_guid``
    (``FakeOptions.accept_quoted_guid_in_filter``, UNCONFIRMED 10) lets
    ``_x_value eq '<guid>'`` compare as a GUID; when off, a quoted GUID against a GUID column is
    an incompatible-types 400.
    ``env`` (:class:`QueryEnv`) gives lookup paths the related rows and query functions the
    clock and the caller; without it those answer 501.
    Raises :class:`FakeFault` (400 for bad syntax/columns/types, 501 for unsupported features).
    """
    env = env or QueryEnv()
    node = Parser(text, table, aliases or {}, accept_quoted_guid, env).parse()
    tri = _compile(node, env)
    return lambda row: tri(row) is True


# --- $select ------------------------------------------------------------------------------


def parse_select(text: str, table: Table) -> list[str]:
    """Parse ``$select`` into attribute names (in order, duplicates dropped).

    A lookup must be selected as ``_<name>_value`` and comes back as its attribute name
    (``parentaccountid``); the bare attribute name of a lookup or a navigation property is an
    unknown property (400 ``0x80060888``), as in Dataverse.  Use ``table.column(name)`` for the
    :class:`Column`.
    """
    names: list[str] = []
    if not text.strip():
        raise syntax_error(
            "The $select query option is empty; list column names separated by commas."
        )
    for item in text.split(","):
        name = item.strip()
        if not name:
            raise syntax_error(f"Syntax error in $select '{text}': an empty column name.")
        if name == "*":
            raise not_implemented("$select=*")
        if "/" in name or "(" in name:
            raise not_implemented(f"selecting '{name}'")
        column = table.column_for_property(name)
        if column is None:
            raise property_not_found(name, table.logical_name)
        if column.name not in names:
            names.append(column.name)
    return names
