"""The ``$filter`` parser of the fake: tokens -> a typed syntax tree over one table.

Grammar: comparisons ``eq ne gt ge lt le``, ``and``/``or``/``not``, parentheses, ``contains``/
``startswith``/``endswith``, lookups as ``_<name>_value``, column-to-column comparisons, lookup
paths (``primarycontactid/fullname``), ``Microsoft.Dynamics.CRM.*`` query functions and
``any``/``all`` lambdas.
Recognised but unimplemented features answer 501 naming the feature.  The evaluator is
:mod:`~d365leads.fake.wire.odata_eval`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.fault import CODE_BAD_QUERY, FakeFault, not_implemented, property_not_found
from ..org.schema import Column, Table
from .odata_functions import QueryEnv, QueryFunc, make_query_function
from .odata_lambda import Lambda, parse_lambda
from .odata_lexer import (
    ARITHMETIC,
    COMPARISONS,
    OTHER_ODATA_FUNCTIONS,
    STRING_FUNCTIONS,
    Constant,
    Token,
    literal_from_token,
    syntax_error,
    tokenize,
)
from .odata_types import check_compatible, edm_of_column, normalize_value

__all__ = [
    "Compare",
    "Lambda",
    "Logical",
    "Node",
    "Not",
    "Parser",
    "Prop",
    "QueryFunc",
    "StringFunc",
]


@dataclass(frozen=True)
class Prop:
    """A property (column) of the table, as written in the expression."""

    column: Column
    name: str  # as written (wire property)
    pos: int
    path: tuple[tuple[Column, str], ...] = ()
    """Single-valued navigations to follow first: (lookup column, target table) per hop."""


@dataclass(frozen=True)
class Compare:
    """A comparison ``left op right``."""

    op: str
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True)
class Logical:
    """``left and right`` / ``left or right``."""

    op: str  # and / or
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    """``not operand``."""

    operand: Node
    pos: int


@dataclass(frozen=True)
class StringFunc:
    """``contains``/``startswith``/``endswith`` of a string property and a pattern."""

    name: str
    prop: Prop
    needle: str


Node = Constant | Prop | Compare | Logical | Not | StringFunc | QueryFunc | Lambda


# --- parser -------------------------------------------------------------------------------


class Parser:
    """Recursive-descent parser of one ``$filter`` expression over ``table``."""

    def __init__(
        self,
        text: str,
        table: Table,
        aliases: Mapping[str, str],
        accept_quoted_guid: bool,
        env: QueryEnv | None = None,
    ) -> None:
        self.text = text
        self.table = table
        self.env = env
        self.tables = env.table_of if env is not None else None
        self.lambda_var: str | None = None  # the range variable inside any()/all()
        self.aliases = aliases
        self.accept_quoted_guid = accept_quoted_guid
        self.tokens = tokenize(text)
        self.i = 0

    # token helpers
    def _peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def _at_keyword(self, *words: str) -> bool:
        tok = self._peek()
        return tok is not None and tok.kind == "ident" and tok.text in words

    def _pos(self) -> int:
        tok = self._peek()
        return tok.pos if tok is not None else len(self.text)

    def _expect(self, kind: str, what: str) -> Token:
        tok = self._peek()
        if tok is None or tok.kind != kind:
            raise syntax_error(f"{what} expected at position {self._pos()} in '{self.text}'.")
        self.i += 1
        return tok

    # grammar
    def parse(self) -> Node:
        """The whole expression as a syntax tree (400/501 faults on errors)."""
        if not self.tokens:
            raise syntax_error(f"Expression expected at position 0 in '{self.text}'.")
        node = self._or()
        tok = self._peek()
        if tok is not None:
            if tok.kind == "ident" and tok.text in ARITHMETIC:
                raise not_implemented(f"the arithmetic operator '{tok.text}' in $filter")
            if tok.kind == "ident" and tok.text in ("in", "has"):
                raise not_implemented(f"the '{tok.text}' operator in $filter")
            raise syntax_error(
                f"Syntax error at position {tok.pos} in '{self.text}': "
                f"')' or operator expected, found '{tok.text}'."
            )
        self._require_boolean(node, 0)
        return node

    def _or(self) -> Node:
        node = self._and()
        while self._at_keyword("or"):
            self.i += 1
            right = self._and()
            self._require_boolean(node, 0)
            self._require_boolean(right, 0)
            node = Logical("or", node, right)
        return node

    def _and(self) -> Node:
        node = self._comparison()
        while self._at_keyword("and"):
            self.i += 1
            right = self._comparison()
            self._require_boolean(node, 0)
            self._require_boolean(right, 0)
            node = Logical("and", node, right)
        return node

    def _comparison(self) -> Node:
        left = self._unary()
        tok = self._peek()
        if tok is not None and tok.kind == "ident" and tok.text in COMPARISONS:
            self.i += 1
            right = self._unary()
            return self._typed_compare(tok.text, left, right, tok.pos)
        if tok is not None and tok.kind == "ident" and tok.text in ARITHMETIC:
            raise not_implemented(f"the arithmetic operator '{tok.text}' in $filter")
        if tok is not None and tok.kind == "ident" and tok.text in ("in", "has"):
            raise not_implemented(f"the '{tok.text}' operator in $filter")
        return left

    def _unary(self) -> Node:
        # OData precedence: "not" binds tighter than the comparison operators, so
        # "not x eq 1" is "(not x) eq 1" (an error unless x is boolean); use "not (x eq 1)".
        if self._at_keyword("not"):
            pos = self._pos()
            self.i += 1
            operand = self._unary()
            self._require_boolean(operand, pos)
            return Not(operand, pos)
        return self._primary()

    def _primary(self) -> Node:
        tok = self._peek()
        if tok is None:
            raise syntax_error(
                f"Expression expected at position {len(self.text)} in '{self.text}'."
            )
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
            return literal_from_token(tok, self.text)
        if tok.kind == "ident":
            return self._identifier()
        raise syntax_error(f"Expression expected at position {tok.pos} in '{self.text}'.")

    def _alias(self, tok: Token) -> Node:
        if tok.text not in self.aliases:
            raise syntax_error(
                f"The parameter alias '{tok.text}' at position {tok.pos} in '{self.text}' "
                "has no value; add it to the query string (e.g. &@p1='value')."
            )
        sub_text = self.aliases[tok.text]
        sub_tokens = tokenize(sub_text)
        if len(sub_tokens) != 1:
            if (sub_tokens and sub_tokens[0].kind == "lparen") or sub_text.lstrip().startswith("["):
                raise not_implemented(f"collection-valued parameter alias {tok.text} in $filter")
            raise syntax_error(
                f"The value of parameter alias '{tok.text}' is not a literal: '{sub_text}'."
            )
        sub = sub_tokens[0]
        if sub.kind == "ident" and sub.text in ("null", "true", "false"):
            return self._keyword_literal(sub.text, tok.pos)
        if sub.kind == "ident":
            # Aliases may name a property (Dataverse documents @p1 for PropertyName values).
            return self._property(sub.text, tok.pos)
        lit = literal_from_token(sub, sub_text)
        return Constant(lit.value, lit.edm, tok.pos)

    @staticmethod
    def _keyword_literal(word: str, pos: int) -> Constant:
        if word == "null":
            return Constant(None, "null", pos)
        return Constant(word == "true", "Edm.Boolean", pos)

    def _identifier(self) -> Node:
        tok = self._peek()
        assert tok is not None
        name = tok.text
        nxt = self._peek(1)
        if name in ("null", "true", "false"):
            self.i += 1
            return self._keyword_literal(name, tok.pos)
        if nxt is not None and nxt.kind == "lparen":
            return self._function(tok)
        if nxt is not None and nxt.kind == "slash" and name == self.lambda_var:
            self.i += 2  # "x/" inside any(x:x/subject eq 'a')
            return self._identifier()
        if nxt is not None and nxt.kind == "slash":
            return self._navigation_path(tok)
        if name in ("not", "and", "or") or name in COMPARISONS:
            raise syntax_error(f"Expression expected at position {tok.pos} in '{self.text}'.")
        self.i += 1
        return self._property(name, tok.pos)

    def _property(self, name: str, pos: int) -> Prop:
        column = self.table.column_for_property(name)
        if column is None:
            raise property_not_found(name, self.table.logical_name)
        return Prop(column, name, pos)

    def _navigation_path(self, tok: Token) -> Prop | Lambda:
        """``primarycontactid/fullname``, ``primarycontactid/createdby/fullname``: a column of
        a related row reached through single-valued navigations (documented in filter-rows)."""
        segment = self._peek(2)
        if segment is not None and segment.kind == "ident" and segment.text in ("any", "all"):
            return parse_lambda(self, tok)
        current = self.table
        hops: list[tuple[Column, str]] = []
        while True:
            head = self._peek()
            assert head is not None
            nxt = self._peek(1)
            if nxt is None or nxt.kind != "slash":
                break
            found = current.navigation(head.text)
            if found is None:
                if current.column_for_property(head.text) is not None:
                    raise syntax_error(
                        f"'{head.text}' at position {head.pos} in '{self.text}' is not a "
                        "navigation property; only single-valued navigation properties can "
                        "start a path."
                    )
                raise property_not_found(head.text, current.logical_name)
            column, target_name = found
            target = self.tables(target_name) if self.tables is not None else None
            if target is None:
                raise not_implemented(
                    f"filtering through the navigation path '{head.text}/...' here"
                )
            hops.append((column, target_name))
            current = target
            self.i += 2
            after = self._peek()
            if after is None or after.kind != "ident":
                raise syntax_error(
                    f"A property name is expected after '{head.text}/' in '{self.text}'."
                )
        last = self._peek()
        assert last is not None
        self.i += 1
        target_column = current.column_for_property(last.text)
        if target_column is None:
            raise property_not_found(last.text, current.logical_name)
        return Prop(target_column, last.text, tok.pos, tuple(hops))

    def _function(self, tok: Token) -> Node:
        name = tok.text
        if name.startswith("Microsoft.Dynamics.CRM."):
            return self._query_function(tok)
        if name in ("any", "all"):
            raise not_implemented(f"the lambda operator '{name}' in $filter")
        if name in OTHER_ODATA_FUNCTIONS or name.lower() in OTHER_ODATA_FUNCTIONS:
            raise not_implemented(f"the OData function '{name}' in $filter")
        if name not in STRING_FUNCTIONS:
            raise syntax_error(
                f"An unknown function with name '{name}' was found at position {tok.pos} in "
                f"'{self.text}'. Dataverse supports contains, startswith, endswith and the "
                "Microsoft.Dynamics.CRM query functions."
            )
        self.i += 2  # name and "("
        args: list[Node] = [self._or()]
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
            raise syntax_error(signature)
        prop, needle = args
        if not isinstance(prop, Prop) or edm_of_column(prop.column) != "Edm.String":
            raise syntax_error(signature)
        if not isinstance(needle, Constant) or needle.edm != "Edm.String":
            raise syntax_error(signature)
        return StringFunc(name, prop, needle.value)

    def _query_function(self, tok: Token) -> QueryFunc:
        """``Microsoft.Dynamics.CRM.<Name>(PropertyName='x',PropertyValue(s)=...)``."""
        name = tok.text.rsplit(".", 1)[1]
        self.i += 2  # name and "("
        args: dict[str, Token | list[Token]] = {}
        while True:
            head = self._peek()
            if head is not None and head.kind == "rparen" and not args:
                self.i += 1
                break
            key = self._expect("ident", "A parameter name")
            equals = self._peek()
            if equals is None or equals.text != "=":
                raise syntax_error(f"'=' expected after '{key.text}' in '{self.text}'.")
            self.i += 1
            value = self._peek()
            if value is not None and value.kind == "alias":
                self.i += 1
                args[key.text] = self._alias_value(value)
            else:
                args[key.text], self.i = _read_value(self.tokens, self.i, self.text)
            end = self._expect_any(("comma", "rparen"), "',' or ')'")
            if end.kind == "rparen":
                break
        prop_arg = args.pop("PropertyName", None)
        if not isinstance(prop_arg, Token) or prop_arg.kind not in ("string", "dstring"):
            raise syntax_error(
                f"{tok.text} at position {tok.pos} in '{self.text}' needs PropertyName='<column>'."
            )
        prop = self._property_of(str(prop_arg.value), tok.pos)
        return make_query_function(name, prop, self.table, args)

    def _alias_value(self, tok: Token) -> Token | list[Token]:
        if tok.text not in self.aliases:
            raise syntax_error(
                f"The parameter alias '{tok.text}' at position {tok.pos} in '{self.text}' "
                "has no value; add it to the query string (e.g. &@p1='value')."
            )
        sub_text = self.aliases[tok.text]
        value, end = _read_value(tokenize(sub_text), 0, sub_text)
        if end != len(tokenize(sub_text)):
            raise syntax_error(f"The value of parameter alias '{tok.text}' is not a literal.")
        return value

    def _property_of(self, text: str, pos: int) -> Prop:
        """A PropertyName value: a column's logical name (``ownerid`` for a lookup, as well
        as ``_ownerid_value``), or a path through single-valued navigations."""
        if "/" not in text:
            column = self.table.column(text)
            return Prop(column, text, pos) if column is not None else self._property(text, pos)
        sub = Parser(text, self.table, self.aliases, self.accept_quoted_guid, self.env)
        node = sub._primary()
        if not isinstance(node, Prop) or sub._peek() is not None:
            raise syntax_error(f"'{text}' is not a property path.")
        return node

    def _expect_any(self, kinds: tuple[str, ...], what: str) -> Token:
        tok = self._peek()
        if tok is None or tok.kind not in kinds:
            raise syntax_error(f"{what} expected at position {self._pos()} in '{self.text}'.")
        self.i += 1
        return tok

    # type checking
    def _require_boolean(self, node: Node, pos: int) -> None:
        if isinstance(node, (Compare, Logical, Not, StringFunc, QueryFunc, Lambda)):
            return
        if isinstance(node, Prop) and node.column.type == "bool":
            return
        if isinstance(node, Constant) and node.edm == "Edm.Boolean":
            return
        where = node.pos if isinstance(node, (Prop, Constant)) else pos
        raise syntax_error(
            f"The expression at position {where} in '{self.text}' is not a boolean condition; "
            "compare it with eq, ne, gt, ge, lt or le."
        )

    def _typed_compare(self, op: str, left: Node, right: Node, pos: int) -> Compare:
        for side in (left, right):
            if not isinstance(side, (Prop, Constant)):
                raise syntax_error(
                    f"The operator '{op}' at position {pos} in '{self.text}' compares a property "
                    "or a literal, not a condition; use parentheses with and/or/not."
                )
        assert isinstance(left, (Prop, Constant)) and isinstance(right, (Prop, Constant))
        if isinstance(left, Prop):
            right = self._coerce(op, left, right)
        elif isinstance(right, Prop):
            left = self._coerce(op, right, left)
        else:
            check_compatible(op, left.edm, right.edm, self.text)
        return Compare(op, left, right, pos)

    def _coerce(self, op: str, prop: Prop, other: Prop | Constant) -> Prop | Constant:
        """Check ``other`` against ``prop``'s column type; return it normalised."""
        target = edm_of_column(prop.column)
        if isinstance(other, Prop):
            check_compatible(op, target, edm_of_column(other.column), self.text)
            return other
        if other.edm == "null":
            return other
        if target == "Edm.Guid" and other.edm == "Edm.String" and self.accept_quoted_guid:
            try:
                return Constant(str(uuid.UUID(other.value)), "Edm.Guid", other.pos)
            except ValueError:
                raise FakeFault(
                    400,
                    CODE_BAD_QUERY,
                    f"'{other.value}' at position {other.pos} in '{self.text}' is not a valid "
                    f"GUID for the property '{prop.name}'.",
                ) from None
        check_compatible(op, target, other.edm, self.text)
        value = normalize_value(prop.column, other.value)
        return Constant(value, other.edm, other.pos)


_VALUE_KINDS = ("string", "dstring", "number", "guid", "date", "datetime", "ident")


def _read_value(tokens: list[Token], i: int, text: str) -> tuple[Token | list[Token], int]:
    """A function parameter value at ``tokens[i]``: one literal or a ``[...]`` list of them."""
    if i < len(tokens) and tokens[i].text == "[":
        items: list[Token] = []
        i += 1
        while i < len(tokens) and tokens[i].text != "]":
            if items:
                if tokens[i].kind != "comma":
                    raise syntax_error(f"',' or ']' expected at {tokens[i].pos} in '{text}'.")
                i += 1
            if i >= len(tokens) or tokens[i].kind not in _VALUE_KINDS:
                raise syntax_error(f"A value is expected in the list in '{text}'.")
            items.append(tokens[i])
            i += 1
        if i >= len(tokens):
            raise syntax_error(f"']' expected at the end of '{text}'.")
        return items, i + 1
    if i >= len(tokens) or tokens[i].kind not in _VALUE_KINDS:
        raise syntax_error(f"A parameter value is expected in '{text}'.")
    return tokens[i], i + 1
