"""An immutable OData query builder and ``$filter`` expression helpers.

::

    q = (
        Query("leads")
        .select("fullname", "subject")
        .where((col("statecode") == 0) & col("subject").contains("Contoso"))
        .order_by("createdon desc")
        .top(50)
    )
    q.to_params()  # {"$select": "fullname,subject", "$filter": "...", ...}

Values are always quoted by :func:`~d365leads.odata.literals.literal`; column and navigation
names are checked against the OData identifier syntax, so user data cannot alter the structure
of a query. Experts may still pass raw filter text (``where("statecode eq 0")``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from d365leads.errors import InvalidInputError
from d365leads.odata.literals import literal

__all__ = [
    "Column",
    "Expr",
    "Query",
    "col",
    "raw",
]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = re.compile(rf"^{_IDENT}(?:/{_IDENT})*$")
_ORDER = re.compile(rf"^({_IDENT}(?:/{_IDENT})*)(?:\s+(asc|desc))?$", re.IGNORECASE)
_EXPAND = re.compile(rf"^{_IDENT}(?:\(.*\))?$", re.DOTALL)


def _check_name(name: str, what: str = "column") -> str:
    if not isinstance(name, str) or not _PATH.match(name):
        raise InvalidInputError(
            f"{what} name {name!r} is not a valid OData identifier (letters, digits, '_', "
            "and '/' between navigation steps)"
        )
    return name


class Expr(ABC):
    """A boolean ``$filter`` expression; combine with ``&``, ``|`` and ``~``."""

    _precedence = 3  # 1 = or, 2 = and, 3 = atom/not

    @abstractmethod
    def to_odata(self) -> str:
        """Return the filter text."""

    def _wrapped(self, parent: int) -> str:
        text = self.to_odata()
        return f"({text})" if self._precedence < parent else text

    def __and__(self, other: Expr | str) -> Expr:
        return _BoolOp("and", (self, _as_expr(other)))

    def __rand__(self, other: str) -> Expr:
        return _BoolOp("and", (_as_expr(other), self))

    def __or__(self, other: Expr | str) -> Expr:
        return _BoolOp("or", (self, _as_expr(other)))

    def __ror__(self, other: str) -> Expr:
        return _BoolOp("or", (_as_expr(other), self))

    def __invert__(self) -> Expr:
        return _Not(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "filter expressions have no truth value: combine them with & | ~, not and/or/not"
        )

    def __str__(self) -> str:
        return self.to_odata()

    def __repr__(self) -> str:
        return f"Expr({self.to_odata()!r})"


def _as_expr(value: Expr | str) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, str):
        return raw(value)
    raise InvalidInputError(f"cannot combine a filter with {type(value).__name__}")


class _Raw(Expr):
    _precedence = 0  # always parenthesised when combined: we do not parse it

    def __init__(self, text: str) -> None:
        if not text.strip():
            raise InvalidInputError("an empty raw filter was given")
        self._text = text.strip()

    def to_odata(self) -> str:
        return self._text


def raw(text: str) -> Expr:
    """Use ``text`` verbatim as a filter (for experts; nothing is quoted for you)."""
    return _Raw(text)


class _BoolOp(Expr):
    _op: str
    _operands: tuple[Expr, ...]

    def __init__(self, op: str, operands: tuple[Expr, ...]) -> None:
        flat: list[Expr] = []
        for operand in operands:
            if isinstance(operand, _BoolOp) and operand._op == op:
                flat.extend(operand._operands)
            else:
                flat.append(operand)
        self._op = op
        self._operands = tuple(flat)
        self._precedence = 2 if op == "and" else 1

    def to_odata(self) -> str:
        # Children of equal precedence are flattened above; anything weaker gets parentheses.
        return f" {self._op} ".join(o._wrapped(self._precedence + 1) for o in self._operands)


class _Not(Expr):
    def __init__(self, operand: Expr) -> None:
        self._operand = operand

    def to_odata(self) -> str:
        return f"not ({self._operand.to_odata()})"


class _Compare(Expr):
    def __init__(self, left: str, op: str, right: str) -> None:
        self._text = f"{left} {op} {right}"

    def to_odata(self) -> str:
        return self._text


class _Call(Expr):
    def __init__(self, func: str, column: str, value: str) -> None:
        self._text = f"{func}({column},{value})"

    def to_odata(self) -> str:
        return self._text


def _operand(value: Any) -> str:
    return value.name if isinstance(value, Column) else literal(value)


class Column:
    """A column (or ``nav/column`` path) to compare in a filter; build it with :func:`col`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = _check_name(name)

    def __eq__(self, other: object) -> Expr:  # type: ignore[override]
        return _Compare(self.name, "eq", _operand(other))

    def __ne__(self, other: object) -> Expr:  # type: ignore[override]
        return _Compare(self.name, "ne", _operand(other))

    def __lt__(self, other: object) -> Expr:
        return _Compare(self.name, "lt", _operand(other))

    def __le__(self, other: object) -> Expr:
        return _Compare(self.name, "le", _operand(other))

    def __gt__(self, other: object) -> Expr:
        return _Compare(self.name, "gt", _operand(other))

    def __ge__(self, other: object) -> Expr:
        return _Compare(self.name, "ge", _operand(other))

    __hash__ = None  # type: ignore[assignment]

    def contains(self, text: str) -> Expr:
        """``contains(column,'text')`` (case-insensitive in Dataverse)."""
        return _Call("contains", self.name, _string(text))

    def startswith(self, text: str) -> Expr:
        """``startswith(column,'text')``."""
        return _Call("startswith", self.name, _string(text))

    def endswith(self, text: str) -> Expr:
        """``endswith(column,'text')``."""
        return _Call("endswith", self.name, _string(text))

    def is_null(self) -> Expr:
        """``column eq null``."""
        return _Compare(self.name, "eq", "null")

    def is_not_null(self) -> Expr:
        """``column ne null``."""
        return _Compare(self.name, "ne", "null")

    def in_(self, values: Iterable[Any]) -> Expr:
        """``column`` equals any of ``values`` (``(c eq a or c eq b ...)``)."""
        items = list(values)
        if not items:
            raise InvalidInputError(
                f"in_() on {self.name!r} got no values: an empty list would match nothing; "
                "skip the query instead"
            )
        compares: list[Expr] = [_Compare(self.name, "eq", _operand(v)) for v in items]
        return compares[0] if len(compares) == 1 else _BoolOp("or", tuple(compares))

    def __repr__(self) -> str:
        return f"col({self.name!r})"


def _string(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"expected a string, got {type(text).__name__}")
    return literal(text)


def col(name: str) -> Column:
    """A column to use in a filter: ``col("statecode") == 0``."""
    return Column(name)


@dataclass(frozen=True)
class Query:
    """Immutable query options for one entity set; every method returns a new query."""

    entity_set: str = ""
    select_: tuple[str, ...] = field(default=(), repr=False)
    filter_: Expr | None = field(default=None, repr=False)
    orderby_: tuple[str, ...] = field(default=(), repr=False)
    top_: int | None = field(default=None, repr=False)
    expand_: tuple[str, ...] = field(default=(), repr=False)
    count_: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.entity_set:
            _check_name(self.entity_set, "entity set")

    def select(self, *columns: str) -> Query:
        """Add columns to ``$select``."""
        names = tuple(_check_name(c) for c in _flatten(columns))
        if not names:
            raise InvalidInputError("select() needs at least one column name")
        return replace(
            self, select_=self.select_ + tuple(n for n in names if n not in self.select_)
        )

    def where(self, *conditions: Expr | str) -> Query:
        """AND ``conditions`` into ``$filter`` (strings are raw filter text)."""
        exprs = [_as_expr(c) for c in conditions]
        if self.filter_ is not None:
            exprs.insert(0, self.filter_)
        if not exprs:
            return self
        combined = exprs[0] if len(exprs) == 1 else _BoolOp("and", tuple(exprs))
        return replace(self, filter_=combined)

    def order_by(self, *columns: str) -> Query:
        """Add ``$orderby`` terms: ``"name"``, ``"name desc"`` or ``"-name"`` (descending)."""
        terms: list[str] = []
        for term in _flatten(columns):
            text = term.strip()
            if text.startswith("-"):
                text = text[1:].strip() + " desc"
            match = _ORDER.match(text)
            if not match:
                raise InvalidInputError(
                    f"order_by term {term!r} is not 'column', 'column asc' or 'column desc'"
                )
            direction = (match.group(2) or "").lower()
            terms.append(match.group(1) + (" desc" if direction == "desc" else ""))
        return replace(self, orderby_=self.orderby_ + tuple(terms))

    def top(self, n: int) -> Query:
        """Return at most ``n`` rows (``$top``)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidInputError(f"top() needs a positive whole number, got {n!r}")
        return replace(self, top_=n)

    def expand(self, navigation: str, *, select: Iterable[str] = ()) -> Query:
        """Expand a navigation property; ``select`` limits its columns.

        ``navigation`` may also be complete expand text such as ``"parentaccountid($select=name)"``.
        """
        text = navigation.strip()
        cols = tuple(_check_name(c) for c in _flatten(tuple(select)))
        if "(" in text:
            if cols or not _EXPAND.match(text):
                raise InvalidInputError(f"expand {navigation!r} is not valid expand text")
        else:
            _check_name(text, "navigation property")
            if cols:
                text = f"{text}($select={','.join(cols)})"
        return replace(self, expand_=(*self.expand_, text))

    def count(self, enabled: bool = True) -> Query:
        """Ask for ``@odata.count`` (``$count=true``)."""
        return replace(self, count_=enabled)

    @property
    def filter_text(self) -> str | None:
        """The ``$filter`` text, or ``None``."""
        return self.filter_.to_odata() if self.filter_ is not None else None

    def to_params(self) -> dict[str, str]:
        """The query options as request parameters (unencoded)."""
        params: dict[str, str] = {}
        if self.select_:
            params["$select"] = ",".join(self.select_)
        if self.filter_ is not None:
            params["$filter"] = self.filter_.to_odata()
        if self.orderby_:
            params["$orderby"] = ",".join(self.orderby_)
        if self.top_ is not None:
            params["$top"] = str(self.top_)
        if self.expand_:
            params["$expand"] = ",".join(self.expand_)
        if self.count_:
            params["$count"] = "true"
        return params

    def __repr__(self) -> str:
        return f"Query({self.entity_set!r}, {self.to_params()!r})"


def _flatten(values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, str):
            out.extend(part.strip() for part in value.split(",") if part.strip())
        elif isinstance(value, Iterable):
            out.extend(_flatten(value))
        else:
            raise InvalidInputError(f"expected column names, got {type(value).__name__}")
    return out
