"""``$select`` and ``$filter`` over metadata entities (``EntityMetadata``, ``AttributeMetadata``).

Metadata queries take a smaller language than table queries
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api):
the fake reads comparisons ``<Property> eq|ne <literal>`` (strings with doubled quotes,
``true``/``false``, ``null``, integers, GUIDs, enum members such as
``Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'``) joined by ``and``/``or`` with
parentheses and ``not (…)``.  Other functions or operators answer 501 naming them; an unknown
property answers 400 as Dataverse does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from typing import Any

from ..core.fault import CODE_BAD_QUERY, FakeFault, bad_request, not_implemented

__all__ = [
    "MetadataPredicate",
    "compile_metadata_filter",
    "parse_metadata_select",
    "unknown_property",
]

MetadataPredicate = Callable[[dict[str, Any]], bool]

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<paren>[(),])|(?P<word>[A-Za-z0-9_.:\-/$@]+))"
)
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def unknown_property(name: str, type_name: str) -> FakeFault:
    """Dataverse's 400 for a property the metadata type does not have."""
    return FakeFault(
        400,
        CODE_BAD_QUERY,
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'.",
    )


def parse_metadata_select(
    text: str | None, properties: Collection[str], type_name: str
) -> list[str] | None:
    """The ``$select`` list (``None`` without one); unknown names -> 400."""
    if text is None:
        return None
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    for name in wanted:
        if name not in properties:
            raise unknown_property(name, type_name)
    return wanted


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN_RE.match(text, position)
        if match is None or match.end() == position:
            raise bad_request(f"Syntax error at position {position} in '{text}'.", CODE_BAD_QUERY)
        tokens.append(match.group(match.lastgroup or "word"))
        position = match.end()
    return tokens


def _literal(token: str, text: str) -> object:
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    if token in ("true", "false"):
        return token == "true"
    if token == "null":
        return None
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    if _GUID_RE.match(token):
        return token.lower()
    raise not_implemented(f"the literal '{token}' in a metadata $filter ('{text}')")


class _Parser:
    def __init__(self, text: str, properties: Collection[str], type_name: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0
        self.properties = properties
        self.type_name = type_name

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise bad_request(f"Expression expected at the end of '{self.text}'.", CODE_BAD_QUERY)
        self.position += 1
        return token

    def parse(self) -> MetadataPredicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise bad_request(
                f"')' or operator expected before '{self.peek()}' in '{self.text}'.",
                CODE_BAD_QUERY,
            )
        return predicate

    def disjunction(self) -> MetadataPredicate:
        parts = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def conjunction(self) -> MetadataPredicate:
        parts = [self.term()]
        while self.peek() == "and":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def term(self) -> MetadataPredicate:
        token = self.take()
        if token == "(":
            inner = self.disjunction()
            if self.take() != ")":
                raise bad_request(f"')' expected in '{self.text}'.", CODE_BAD_QUERY)
            return inner
        if token == "not":
            if self.peek() != "(":
                raise bad_request(f"'(' expected after 'not' in '{self.text}'.", CODE_BAD_QUERY)
            negated = self.term()
            return lambda row: not negated(row)
        if self.peek() == "(":
            raise not_implemented(f"the function '{token}' in a metadata $filter")
        if token not in self.properties:
            raise unknown_property(token, self.type_name)
        operator = self.take()
        if operator not in ("eq", "ne"):
            raise not_implemented(f"the operator '{operator}' in a metadata $filter")
        literal = self.take()
        following = self.peek()
        if literal.startswith("Microsoft.Dynamics.CRM.") and (following or "").startswith("'"):
            # An enum literal, Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist': the member
            # name is what the JSON answer carries.
            return _compare(token, operator == "eq", self.take()[1:-1])
        return _compare(token, operator == "eq", _literal(literal, self.text))


def _compare(name: str, equal: bool, value: object) -> MetadataPredicate:
    def matches(row: dict[str, Any]) -> bool:
        actual = row.get(name)
        if isinstance(actual, str) and isinstance(value, str):
            # Names and GUIDs compare case-insensitively, as the service's SQL collation does.
            same = actual.lower() == value.lower()
        else:
            same = actual == value and type(actual) is type(value)
        return same if equal else not same

    return matches


def compile_metadata_filter(
    text: str, properties: Iterable[str], type_name: str
) -> MetadataPredicate:
    """Compile a metadata ``$filter`` over rows of ``type_name`` with ``properties``."""
    return _Parser(text, frozenset(properties), type_name).parse()
