"""The fake server's own OData query parser and evaluator (``$filter``, ``$orderby``, ``$select``).

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
* lookup properties as ``_<name>_value``; column-to-column comparison;
* comparisons are typed by the schema column (date-times as instants, money as decimals,
  GUIDs case-insensitive); a ``null`` column makes any comparison except ``eq null`` /
  ``ne null`` *unknown* (SQL three-valued logic, so ``ne`` does not match empty columns, as in
  Dataverse).

Errors are :class:`~d365leads.fake.errors.FakeFault`:

* unknown column -> 400 ``0x80060888`` "Could not find a property named 'x' on type
  'Microsoft.Dynamics.CRM.<table>'.";
* syntax and type errors -> 400 ``0x80060888`` with the position (0-based) and the text;
* recognised but unimplemented features (``Microsoft.Dynamics.CRM.*`` query functions,
  ``any``/``all`` lambdas, other OData built-in functions, arithmetic, ``in``/``has``, filters on
  related tables through a navigation path) -> 501 naming the feature.

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
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, TypeVar

from .errors import CODE_BAD_QUERY, FakeFault, not_implemented, property_not_found
from .schema import Column, Table

__all__ = [
    "OrderKey",
    "Predicate",
    "compile_filter",
    "like_pattern",
    "normalize_value",
    "parse_orderby",
    "parse_select",
    "sort_rows",
]

Predicate = Callable[[Mapping[str, Any]], bool]
_R = TypeVar("_R", bound=Mapping[str, Any])

# --- lexer --------------------------------------------------------------------------------

_GUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-])"
)
_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|z|[+-]\d{2}:\d{2})?(?![\w:.])"
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w:.-])")
_NUMBER_RE = re.compile(
    r"-?(?:\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)(?:[mMdDfFlL](?!\w))?(?![\w.])"
)
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_ALIAS_RE = re.compile(r"@[A-Za-z_][A-Za-z0-9_]*")

_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_ARITHMETIC = {"add", "sub", "mul", "div", "divby", "mod"}
_OP_KIND = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
_STRING_FUNCTIONS = {"contains", "startswith", "endswith"}
# OData built-in functions Dataverse's Web API does not offer (or the fake does not model).
_OTHER_ODATA_FUNCTIONS = {
    "tolower", "toupper", "trim", "length", "indexof", "substring", "concat", "matchespattern",
    "year", "month", "day", "hour", "minute", "second", "fractionalseconds", "date", "time",
    "totaloffsetminutes", "now", "mindatetime", "maxdatetime", "totalseconds", "round",
    "floor", "ceiling", "isof", "cast", "geo.distance", "geo.length", "geo.intersects",
    "hassubset", "hassubsequence",
}  # fmt: skip


@dataclass(frozen=True)
class _Token:
    kind: str  # ident, string, number, guid, datetime, date, alias, lparen, rparen, comma, slash
    text: str
    pos: int
    value: Any = None


def _syntax(message: str) -> FakeFault:
    return FakeFault(400, CODE_BAD_QUERY, message)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "(),/":
            kind = {"(": "lparen", ")": "rparen", ",": "comma", "/": "slash"}[ch]
            tokens.append(_Token(kind, ch, i))
            i += 1
            continue
        if ch in '=[]:"{}':
            # Only meaningful inside constructs the fake refuses (function parameters, lambdas,
            # JSON arrays); the parser reports those by name before it reaches these tokens.
            tokens.append(_Token("punct", ch, i))
            i += 1
            continue
        if ch == "'":
            j = i + 1
            chars: list[str] = []
            while True:
                if j >= n:
                    raise _syntax(
                        f"There is an unterminated string literal at position {i} in '{text}'."
                    )
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        chars.append("'")
                        j += 2
                        continue
                    break
                chars.append(text[j])
                j += 1
            tokens.append(_Token("string", text[i : j + 1], i, "".join(chars)))
            i = j + 1
            continue
        for kind, regex in (
            ("guid", _GUID_RE),
            ("datetime", _DATETIME_RE),
            ("date", _DATE_RE),
            ("number", _NUMBER_RE),
        ):
            m = regex.match(text, i)
            if m:
                tokens.append(_Token(kind, m.group(0), i))
                i = m.end()
                break
        else:
            m = _IDENT_RE.match(text, i) or _ALIAS_RE.match(text, i)
            if m is None:
                raise _syntax(
                    f"Syntax error: character '{ch}' is not valid at position {i} in '{text}'."
                )
            kind = "alias" if m.group(0).startswith("@") else "ident"
            tokens.append(_Token(kind, m.group(0), i))
            i = m.end()
    return tokens


# --- literal values -----------------------------------------------------------------------


def _parse_datetime(text: str) -> datetime:
    raw = text
    if raw[-1] in "Zz":
        raw = raw[:-1] + "+00:00"
    # Python < 3.11 accepts at most 6 fractional digits; Dataverse sends up to 7.
    m = re.match(r"(.*\.\d{6})\d*(.*)$", raw)
    if m:
        raw = m.group(1) + m.group(2)
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _literal_from_token(tok: _Token, source: str) -> _Literal:
    try:
        if tok.kind == "string":
            return _Literal(tok.value, "Edm.String", tok.pos)
        if tok.kind == "guid":
            return _Literal(str(uuid.UUID(tok.text)), "Edm.Guid", tok.pos)
        if tok.kind == "datetime":
            return _Literal(_parse_datetime(tok.text), "Edm.DateTimeOffset", tok.pos)
        if tok.kind == "date":
            return _Literal(date.fromisoformat(tok.text), "Edm.Date", tok.pos)
        if tok.kind == "number":
            body, suffix = tok.text, ""
            if body[-1] in "mMdDfFlL":
                body, suffix = body[:-1], body[-1].lower()
            if suffix in ("d", "f") or (suffix == "" and ("e" in body or "E" in body)):
                return _Literal(Decimal(body), "Edm.Double", tok.pos)
            if suffix == "m" or "." in body:
                return _Literal(Decimal(body), "Edm.Decimal", tok.pos)
            value = int(body)
            edm = "Edm.Int64" if suffix == "l" or not -(2**31) <= value < 2**31 else "Edm.Int32"
            return _Literal(value, edm, tok.pos)
    except (ValueError, InvalidOperation):
        pass
    raise _syntax(f"Unrecognized literal '{tok.text}' at position {tok.pos} in '{source}'.")


# --- AST ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Literal:
    value: Any
    edm: str  # Edm.String, Edm.Int32, ..., "null"
    pos: int


@dataclass(frozen=True)
class _Prop:
    column: Column
    name: str  # as written (wire property)
    pos: int


@dataclass(frozen=True)
class _Compare:
    op: str
    left: _Node
    right: _Node
    pos: int


@dataclass(frozen=True)
class _Logical:
    op: str  # and / or
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Not:
    operand: _Node
    pos: int


@dataclass(frozen=True)
class _StringFunc:
    name: str
    prop: _Prop
    needle: str


_Node = _Literal | _Prop | _Compare | _Logical | _Not | _StringFunc


# --- parser -------------------------------------------------------------------------------


class _Parser:
    def __init__(
        self,
        text: str,
        table: Table,
        aliases: Mapping[str, str],
        accept_quoted_guid: bool,
    ) -> None:
        self.text = text
        self.table = table
        self.aliases = aliases
        self.accept_quoted_guid = accept_quoted_guid
        self.tokens = _tokenize(text)
        self.i = 0

    # token helpers
    def _peek(self, offset: int = 0) -> _Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def _at_keyword(self, *words: str) -> bool:
        tok = self._peek()
        return tok is not None and tok.kind == "ident" and tok.text in words

    def _pos(self) -> int:
        tok = self._peek()
        return tok.pos if tok is not None else len(self.text)

    def _expect(self, kind: str, what: str) -> _Token:
        tok = self._peek()
        if tok is None or tok.kind != kind:
            raise _syntax(f"{what} expected at position {self._pos()} in '{self.text}'.")
        self.i += 1
        return tok

    # grammar
    def parse(self) -> _Node:
        if not self.tokens:
            raise _syntax(f"Expression expected at position 0 in '{self.text}'.")
        node = self._or()
        tok = self._peek()
        if tok is not None:
            if tok.kind == "ident" and tok.text in _ARITHMETIC:
                raise not_implemented(f"the arithmetic operator '{tok.text}' in $filter")
            if tok.kind == "ident" and tok.text in ("in", "has"):
                raise not_implemented(f"the '{tok.text}' operator in $filter")
            raise _syntax(
                f"Syntax error at position {tok.pos} in '{self.text}': "
                f"')' or operator expected, found '{tok.text}'."
            )
        self._require_boolean(node, 0)
        return node

    def _or(self) -> _Node:
        node = self._and()
        while self._at_keyword("or"):
            self.i += 1
            right = self._and()
            self._require_boolean(node, 0)
            self._require_boolean(right, 0)
            node = _Logical("or", node, right)
        return node

    def _and(self) -> _Node:
        node = self._comparison()
        while self._at_keyword("and"):
            self.i += 1
            right = self._comparison()
            self._require_boolean(node, 0)
            self._require_boolean(right, 0)
            node = _Logical("and", node, right)
        return node

    def _comparison(self) -> _Node:
        left = self._unary()
        tok = self._peek()
        if tok is not None and tok.kind == "ident" and tok.text in _COMPARISONS:
            self.i += 1
            right = self._unary()
            return self._typed_compare(tok.text, left, right, tok.pos)
        if tok is not None and tok.kind == "ident" and tok.text in _ARITHMETIC:
            raise not_implemented(f"the arithmetic operator '{tok.text}' in $filter")
        if tok is not None and tok.kind == "ident" and tok.text in ("in", "has"):
            raise not_implemented(f"the '{tok.text}' operator in $filter")
        return left

    def _unary(self) -> _Node:
        # OData precedence: "not" binds tighter than the comparison operators, so
        # "not x eq 1" is "(not x) eq 1" (an error unless x is boolean); use "not (x eq 1)".
        if self._at_keyword("not"):
            pos = self._pos()
            self.i += 1
            operand = self._unary()
            self._require_boolean(operand, pos)
            return _Not(operand, pos)
        return self._primary()

    def _primary(self) -> _Node:
        tok = self._peek()
        if tok is None:
            raise _syntax(f"Expression expected at position {len(self.text)} in '{self.text}'.")
        if tok.kind == "lparen":
            self.i += 1
            node = self._or()
            self._expect("rparen", "')' or operator")
            return node
        if tok.kind == "alias":
            self.i += 1
            return self._alias(tok)
        if tok.kind in ("string", "guid", "datetime", "date", "number"):
            self.i += 1
            return _literal_from_token(tok, self.text)
        if tok.kind == "ident":
            return self._identifier()
        raise _syntax(f"Expression expected at position {tok.pos} in '{self.text}'.")

    def _alias(self, tok: _Token) -> _Node:
        if tok.text not in self.aliases:
            raise _syntax(
                f"The parameter alias '{tok.text}' at position {tok.pos} in '{self.text}' "
                "has no value; add it to the query string (e.g. &@p1='value')."
            )
        sub_text = self.aliases[tok.text]
        sub_tokens = _tokenize(sub_text)
        if len(sub_tokens) != 1:
            if (sub_tokens and sub_tokens[0].kind == "lparen") or sub_text.lstrip().startswith("["):
                raise not_implemented(f"collection-valued parameter alias {tok.text} in $filter")
            raise _syntax(
                f"The value of parameter alias '{tok.text}' is not a literal: '{sub_text}'."
            )
        sub = sub_tokens[0]
        if sub.kind == "ident" and sub.text in ("null", "true", "false"):
            return self._keyword_literal(sub.text, tok.pos)
        if sub.kind == "ident":
            # Aliases may name a property (Dataverse documents @p1 for PropertyName values).
            return self._property(sub.text, tok.pos)
        lit = _literal_from_token(sub, sub_text)
        return _Literal(lit.value, lit.edm, tok.pos)

    @staticmethod
    def _keyword_literal(word: str, pos: int) -> _Literal:
        if word == "null":
            return _Literal(None, "null", pos)
        return _Literal(word == "true", "Edm.Boolean", pos)

    def _identifier(self) -> _Node:
        tok = self._peek()
        assert tok is not None
        name = tok.text
        nxt = self._peek(1)
        if name in ("null", "true", "false"):
            self.i += 1
            return self._keyword_literal(name, tok.pos)
        if nxt is not None and nxt.kind == "lparen":
            return self._function(tok)
        if nxt is not None and nxt.kind == "slash":
            self._navigation_path(tok)
        if name in ("not", "and", "or") or name in _COMPARISONS:
            raise _syntax(f"Expression expected at position {tok.pos} in '{self.text}'.")
        self.i += 1
        return self._property(name, tok.pos)

    def _property(self, name: str, pos: int) -> _Prop:
        column = self.table.column_for_property(name)
        if column is None:
            raise property_not_found(name, self.table.logical_name)
        return _Prop(column, name, pos)

    def _navigation_path(self, tok: _Token) -> None:
        name = tok.text
        segment = self._peek(2)
        is_known = (
            self.table.navigation(name) is not None
            or self.table.column(name) is not None
            or self.table.column_for_property(name) is not None
        )
        if segment is not None and segment.kind == "ident" and segment.text in ("any", "all"):
            raise not_implemented(f"the lambda operator '{name}/{segment.text}(...)' in $filter")
        if not is_known:
            raise property_not_found(name, self.table.logical_name)
        rest = segment.text if segment is not None else ""
        raise not_implemented(
            f"filtering on a related table's column through the navigation path '{name}/{rest}'"
        )

    def _function(self, tok: _Token) -> _Node:
        name = tok.text
        if name.startswith("Microsoft.Dynamics.CRM."):
            raise not_implemented(f"the query function {name} in $filter")
        if name in ("any", "all"):
            raise not_implemented(f"the lambda operator '{name}' in $filter")
        if name in _OTHER_ODATA_FUNCTIONS or name.lower() in _OTHER_ODATA_FUNCTIONS:
            raise not_implemented(f"the OData function '{name}' in $filter")
        if name not in _STRING_FUNCTIONS:
            raise _syntax(
                f"An unknown function with name '{name}' was found at position {tok.pos} in "
                f"'{self.text}'. Dataverse supports contains, startswith, endswith and the "
                "Microsoft.Dynamics.CRM query functions."
            )
        self.i += 2  # name and "("
        args: list[_Node] = [self._or()]
        while self._peek() is not None and self._peek().kind == "comma":  # type: ignore[union-attr]
            self.i += 1
            args.append(self._or())
        self._expect("rparen", "')' or ','")
        signature = (
            f"No function signature for the function with name '{name}' matches the specified "
            f"arguments. The function signatures considered are: {name}(Edm.String "
            "Nullable=true, Edm.String Nullable=true)."
        )
        if len(args) != 2:
            raise _syntax(signature)
        prop, needle = args
        if not isinstance(prop, _Prop) or _edm_of_column(prop.column) != "Edm.String":
            raise _syntax(signature)
        if not isinstance(needle, _Literal) or needle.edm != "Edm.String":
            raise _syntax(signature)
        return _StringFunc(name, prop, needle.value)

    # type checking
    def _require_boolean(self, node: _Node, pos: int) -> None:
        if isinstance(node, (_Compare, _Logical, _Not, _StringFunc)):
            return
        if isinstance(node, _Prop) and node.column.type == "bool":
            return
        if isinstance(node, _Literal) and node.edm == "Edm.Boolean":
            return
        where = node.pos if isinstance(node, (_Prop, _Literal)) else pos
        raise _syntax(
            f"The expression at position {where} in '{self.text}' is not a boolean condition; "
            "compare it with eq, ne, gt, ge, lt or le."
        )

    def _typed_compare(self, op: str, left: _Node, right: _Node, pos: int) -> _Compare:
        for side in (left, right):
            if not isinstance(side, (_Prop, _Literal)):
                raise _syntax(
                    f"The operator '{op}' at position {pos} in '{self.text}' compares a property "
                    "or a literal, not a condition; use parentheses with and/or/not."
                )
        assert isinstance(left, (_Prop, _Literal)) and isinstance(right, (_Prop, _Literal))
        if isinstance(left, _Prop):
            right = self._coerce(op, left, right)
        elif isinstance(right, _Prop):
            left = self._coerce(op, right, left)
        else:
            _check_compatible(op, left.edm, right.edm, self.text)
        return _Compare(op, left, right, pos)

    def _coerce(self, op: str, prop: _Prop, other: _Prop | _Literal) -> _Prop | _Literal:
        """Check ``other`` against ``prop``'s column type; return it normalised."""
        target = _edm_of_column(prop.column)
        if isinstance(other, _Prop):
            _check_compatible(op, target, _edm_of_column(other.column), self.text)
            return other
        if other.edm == "null":
            return other
        if target == "Edm.Guid" and other.edm == "Edm.String" and self.accept_quoted_guid:
            try:
                return _Literal(str(uuid.UUID(other.value)), "Edm.Guid", other.pos)
            except ValueError:
                raise FakeFault(
                    400,
                    CODE_BAD_QUERY,
                    f"'{other.value}' at position {other.pos} in '{self.text}' is not a valid "
                    f"GUID for the property '{prop.name}'.",
                ) from None
        _check_compatible(op, target, other.edm, self.text)
        value = normalize_value(prop.column, other.value)
        return _Literal(value, other.edm, other.pos)


_NUMERIC = {"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double"}
_TEMPORAL = {"Edm.DateTimeOffset", "Edm.Date"}


def _edm_of_column(column: Column) -> str:
    return {
        "string": "Edm.String",
        "memo": "Edm.String",
        "int": "Edm.Int32",
        "bigint": "Edm.Int64",
        "decimal": "Edm.Decimal",
        "money": "Edm.Decimal",
        "bool": "Edm.Boolean",
        "datetime": "Edm.DateTimeOffset",
        "date": "Edm.Date",
        "guid": "Edm.Guid",
        "picklist": "Edm.Int32",
        "state": "Edm.Int32",
        "status": "Edm.Int32",
        "lookup": "Edm.Guid",
        "customer": "Edm.Guid",
        "owner": "Edm.Guid",
    }[column.type]


def _check_compatible(op: str, a: str, b: str, text: str) -> None:
    if a == "null" or b == "null" or a == b:
        return
    if a in _NUMERIC and b in _NUMERIC:
        return
    if a in _TEMPORAL and b in _TEMPORAL:
        return
    raise FakeFault(
        400,
        CODE_BAD_QUERY,
        "A binary operator with incompatible types was detected. Found operand types "
        f"'{a}' and '{b}' for operator kind '{_OP_KIND[op]}'.",
    )


# --- values -------------------------------------------------------------------------------


def normalize_value(column: Column, value: Any) -> Any:
    """Bring a stored or literal ``value`` to the comparable form for ``column``'s type.

    Strings stay strings (compared case-insensitively elsewhere), numbers become ``int`` or
    ``Decimal``, date-times become aware UTC ``datetime`` (ISO strings are parsed, naive values
    are UTC), dates become ``date``, GUIDs and lookups lower-case strings.  ``None`` stays
    ``None``.
    """
    if value is None:
        return None
    kind = column.type
    if kind in ("int", "bigint", "picklist", "state", "status"):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (int, Decimal)) and value == int(value):
            return int(value)
        return Decimal(str(value))
    if kind in ("decimal", "money"):
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if kind == "bool":
        return bool(value)
    if kind == "datetime":
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            return aware.astimezone(timezone.utc)
        if isinstance(value, date):
            return datetime.combine(value, time(0), tzinfo=timezone.utc)
        return _parse_datetime(str(value))
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        return date.fromisoformat(str(value)[:10])
    if kind in ("guid", "lookup", "customer", "owner"):
        return str(value).lower()
    return str(value)


def like_pattern(text: str) -> str:
    """Translate a T-SQL ``LIKE`` pattern (as Dataverse applies to ``contains`` & co.) to regex.

    ``%`` is any run of characters, ``_`` one character, ``[abc]``/``[a-f]`` one of a set and
    ``[^abc]`` one not in it; ``[%]`` is a literal ``%``.  An unclosed ``[`` is literal.
    https://learn.microsoft.com/power-apps/developer/data-platform/wildcard-characters
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[":
            end = text.find("]", i + 2)
            if end < 0:
                out.append(re.escape(ch))
            else:
                inner = text[i + 1 : end]
                negate = inner.startswith("^") and len(inner) > 1
                members = inner[1:] if negate else inner
                parts: list[str] = []
                j = 0
                while j < len(members):
                    if j + 2 < len(members) and members[j + 1] == "-":
                        parts.append(f"{re.escape(members[j])}-{re.escape(members[j + 2])}")
                        j += 3
                    else:
                        parts.append(re.escape(members[j]))
                        j += 1
                out.append(f"[{'^' if negate else ''}{''.join(parts)}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


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


def _value_getter(node: _Prop | _Literal) -> _Value:
    if isinstance(node, _Literal):
        constant = node.value
        return lambda row: constant
    column = node.column
    key = column.name
    return lambda row: normalize_value(column, row.get(key))


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


def _compile(node: _Node) -> _Tri:
    if isinstance(node, _Compare):
        left = _value_getter(node.left)  # type: ignore[arg-type]
        right = _value_getter(node.right)  # type: ignore[arg-type]
        op = node.op
        # eq/ne null keep two-valued semantics: "x eq null" is "x is null".
        null_test = (isinstance(node.right, _Literal) and node.right.edm == "null") or (
            isinstance(node.left, _Literal) and node.left.edm == "null"
        )
        if null_test and op in ("eq", "ne"):
            return lambda row: _compare(op, left(row), right(row))

        def compare(row: Mapping[str, Any]) -> bool | None:
            a, b = left(row), right(row)
            if a is None or b is None:
                return None  # SQL semantics: a null column is unknown, even for ne
            return _compare(op, a, b)

        return compare
    if isinstance(node, _Logical):
        lhs, rhs = _compile(node.left), _compile(node.right)
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
    if isinstance(node, _Not):
        inner = _compile(node.operand)

        def negate(row: Mapping[str, Any]) -> bool | None:
            value = inner(row)
            return None if value is None else not value

        return negate
    if isinstance(node, _StringFunc):
        key = node.prop.column.name
        body = like_pattern(node.needle)
        pattern = re.compile(
            {"contains": f".*{body}.*", "startswith": f"{body}.*", "endswith": f".*{body}"}[
                node.name
            ],
            re.IGNORECASE | re.DOTALL,
        )

        def string_func(row: Mapping[str, Any]) -> bool | None:
            value = row.get(key)
            return None if value is None else pattern.fullmatch(str(value)) is not None

        return string_func
    if isinstance(node, _Prop):  # a bare boolean column
        key = node.column.name

        def flag(row: Mapping[str, Any]) -> bool | None:
            value = row.get(key)
            return None if value is None else bool(value)

        return flag
    constant = bool(node.value)
    return lambda row: constant


def compile_filter(
    text: str,
    table: Table,
    aliases: Mapping[str, str] | None = None,
    *,
    accept_quoted_guid: bool = True,
) -> Predicate:
    """Parse a ``$filter`` expression for ``table`` and return a predicate over stored rows.

    ``aliases`` maps parameter aliases (``"@p1"``) to their literal text from the query string
    (``{k: v for k, v in request.query if k.startswith("@")}``).  ``accept_quoted_guid``
    (``FakeOptions.accept_quoted_guid_in_filter``, UNCONFIRMED 10) lets
    ``_x_value eq '<guid>'`` compare as a GUID; when off, a quoted GUID against a GUID column is
    an incompatible-types 400.
    Raises :class:`FakeFault` (400 for bad syntax/columns/types, 501 for unsupported features).
    """
    node = _Parser(text, table, aliases or {}, accept_quoted_guid).parse()
    tri = _compile(node)
    return lambda row: tri(row) is True


# --- $orderby -----------------------------------------------------------------------------


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
        raise _syntax(f"Expression expected at position 0 in '{text}'.")
    offset = 0
    for item in text.split(","):
        words = item.split()
        if not words:
            raise _syntax(f"Expression expected at position {offset} in '{text}'.")
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise _syntax(
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


def _sort_value(value: Any, column: Column | None) -> Any:
    if column is not None:
        value = normalize_value(column, value)
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        return int(value)
    return value


def sort_rows(
    rows: Iterable[_R],
    orderby: str | Sequence[tuple[str, bool]],
    table: Table | None = None,
) -> list[_R]:
    """Return ``rows`` sorted by ``orderby``, stably.

    ``orderby`` is ``$orderby`` text (parsed with :func:`parse_orderby`; needs ``table``) or
    already parsed ``(attribute, descending)`` pairs.  Nulls sort first on ascending keys and
    last on descending ones (SQL Server order); strings sort case-insensitively.  With
    ``table``, values are normalised by column type (ISO date-time strings sort as instants).
    """
    if isinstance(orderby, str):
        if table is None:
            raise TypeError("sort_rows needs the table to parse $orderby text")
        keys: Sequence[tuple[str, bool]] = parse_orderby(orderby, table)
    else:
        keys = orderby
    result = list(rows)
    for name, descending in reversed(list(keys)):
        column = table.column(name) if table is not None else None
        nulls = [r for r in result if r.get(name) is None]
        valued = [r for r in result if r.get(name) is not None]
        valued.sort(key=lambda r: _sort_value(r.get(name), column), reverse=descending)
        result = valued + nulls if descending else nulls + valued
    return result


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
        raise _syntax("The $select query option is empty; list column names separated by commas.")
    for item in text.split(","):
        name = item.strip()
        if not name:
            raise _syntax(f"Syntax error in $select '{text}': an empty column name.")
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
