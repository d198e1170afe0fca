"""The ``$filter`` lexer of the fake: tokens, keyword sets and literal values.

Literals: ``null``, ``true``/``false``, integers, decimals (``1.5``, ``2M``), doubles (``1e3``),
strings with doubled single quotes, GUIDs, dates and date-times (an offset or ``Z``; no zone =
UTC) and parameter aliases (``@p1``).  The parser is :mod:`~d365leads.fake.wire.odata_parser`.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from ..core.fault import CODE_BAD_QUERY, FakeFault

__all__ = [
    "ARITHMETIC",
    "COMPARISONS",
    "OP_KIND",
    "OTHER_ODATA_FUNCTIONS",
    "STRING_FUNCTIONS",
    "Constant",
    "Token",
    "literal_from_token",
    "parse_datetime",
    "syntax_error",
    "tokenize",
]

# --- tokens --------------------------------------------------------------------------------

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

COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
ARITHMETIC = {"add", "sub", "mul", "div", "divby", "mod"}
OP_KIND = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
STRING_FUNCTIONS = {"contains", "startswith", "endswith"}
# OData built-in functions Dataverse's Web API does not offer (or the fake does not model).
OTHER_ODATA_FUNCTIONS = {
    "tolower", "toupper", "trim", "length", "indexof", "substring", "concat", "matchespattern",
    "year", "month", "day", "hour", "minute", "second", "fractionalseconds", "date", "time",
    "totaloffsetminutes", "now", "mindatetime", "maxdatetime", "totalseconds", "round",
    "floor", "ceiling", "isof", "cast", "geo.distance", "geo.length", "geo.intersects",
    "hassubset", "hassubsequence",
}  # fmt: skip


@dataclass(frozen=True)
class Token:
    """One token of a ``$filter`` expression and its 0-based position."""

    kind: str  # ident, string, number, guid, datetime, date, alias, lparen, rparen, comma, slash
    text: str
    pos: int
    value: Any = None


def syntax_error(message: str) -> FakeFault:
    """The 400 ``0x80060888`` fault for a ``$filter`` syntax error."""
    return FakeFault(400, CODE_BAD_QUERY, message)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` (400 naming the position of anything unreadable)."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "(),/":
            kind = {"(": "lparen", ")": "rparen", ",": "comma", "/": "slash"}[ch]
            tokens.append(Token(kind, ch, i))
            i += 1
            continue
        if ch == '"':
            # JSON strings appear in query function parameters (PropertyValues=["5","2000"]).
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise syntax_error(
                    f"There is an unterminated string literal at position {i} in '{text}'."
                )
            try:
                decoded = json.loads(text[i : j + 1])
            except ValueError:
                raise syntax_error(
                    f"Unrecognized literal '{text[i : j + 1]}' at position {i} in '{text}'."
                ) from None
            tokens.append(Token("dstring", text[i : j + 1], i, decoded))
            i = j + 1
            continue
        if ch in "=[]:{}":
            # Only meaningful inside constructs the fake refuses (function parameters, lambdas,
            # JSON arrays); the parser reports those by name before it reaches these tokens.
            tokens.append(Token("punct", ch, i))
            i += 1
            continue
        if ch == "'":
            j = i + 1
            chars: list[str] = []
            while True:
                if j >= n:
                    raise syntax_error(
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
            tokens.append(Token("string", text[i : j + 1], i, "".join(chars)))
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
                tokens.append(Token(kind, m.group(0), i))
                i = m.end()
                break
        else:
            m = _IDENT_RE.match(text, i) or _ALIAS_RE.match(text, i)
            if m is None:
                raise syntax_error(
                    f"Syntax error: character '{ch}' is not valid at position {i} in '{text}'."
                )
            kind = "alias" if m.group(0).startswith("@") else "ident"
            tokens.append(Token(kind, m.group(0), i))
            i = m.end()
    return tokens


# --- literal values -----------------------------------------------------------------------


def parse_datetime(text: str) -> datetime:
    """An OData date-time literal as an aware UTC datetime (7 fractional digits allowed)."""
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


def literal_from_token(tok: Token, source: str) -> Constant:
    """The literal a string, GUID, date, date-time or number token stands for."""
    try:
        if tok.kind == "string":
            return Constant(tok.value, "Edm.String", tok.pos)
        if tok.kind == "guid":
            return Constant(str(uuid.UUID(tok.text)), "Edm.Guid", tok.pos)
        if tok.kind == "datetime":
            return Constant(parse_datetime(tok.text), "Edm.DateTimeOffset", tok.pos)
        if tok.kind == "date":
            return Constant(date.fromisoformat(tok.text), "Edm.Date", tok.pos)
        if tok.kind == "number":
            body, suffix = tok.text, ""
            if body[-1] in "mMdDfFlL":
                body, suffix = body[:-1], body[-1].lower()
            if suffix in ("d", "f") or (suffix == "" and ("e" in body or "E" in body)):
                return Constant(Decimal(body), "Edm.Double", tok.pos)
            if suffix == "m" or "." in body:
                return Constant(Decimal(body), "Edm.Decimal", tok.pos)
            value = int(body)
            edm = "Edm.Int64" if suffix == "l" or not -(2**31) <= value < 2**31 else "Edm.Int32"
            return Constant(value, edm, tok.pos)
    except (ValueError, InvalidOperation):
        pass
    raise syntax_error(f"Unrecognized literal '{tok.text}' at position {tok.pos} in '{source}'.")


@dataclass(frozen=True)
class Constant:
    """A literal in the expression (``edm`` is its EDM type, or ``"null"``)."""

    value: Any
    edm: str  # Edm.String, Edm.Int32, ..., "null"
    pos: int
