"""Request bodies read as Dataverse's OData JSON reader reads them.

The Web API reads bodies with ODataLib (``Microsoft.OData.Core``), whose JSON reader keeps
three compatibility rules of WCF Data Services beside strict JSON (``Json/JsonReader.cs`` in
github.com/OData/odata.net, "COMPAT 45/46/47"):

* a string may be quoted with ``'`` as well as ``"`` (it ends at the same quote; ``\\'`` is an
  escape as well as ``\\"``);
* a property name may be quoted either way, or bare: a run of letters, digits, ``_`` and ``$``;
* a number may start with ``.`` (``.5``).

Everything else stays strict, as in that reader: whitespace is space, tab, CR and LF only;
``null``/``true``/``false`` are case-sensitive; a missing or trailing comma, a missing colon, an
empty name, an unknown escape, an unterminated string, an unknown token or a second top-level
value is an error.  The documented QualifyLead example sends its entity parameters this way
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/qualifylead).
Whether Dataverse keeps these rules is UNCONFIRMED: ``FakeOptions.json_reader`` (``odatalib``
by default, ``strict`` for the standard library's reader).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["JsonReaderError", "read_json"]

_WHITESPACE = " \t\r\n"
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}
_ESCAPES.update({"'": "'", "/": "/"})
_NUMBER_CHARS = re.compile(r"[0-9.eE+-]*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"-?\d+")
_LITERALS: dict[str, Any] = {"null": None, "true": True, "false": False}


class JsonReaderError(ValueError):
    """A body the reader refuses; the message names the problem and its offset."""


def read_json(text: str) -> Any:
    """Parse ``text`` with the rules of the module docstring; raise :class:`JsonReaderError`."""
    reader = _Reader(text)
    reader.skip_whitespace()
    value = reader.value()
    reader.skip_whitespace()
    if reader.pos < len(text):
        reader.fail("more than one top-level value")
    return value


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, problem: str) -> None:
        raise JsonReaderError(f"{problem} at offset {self.pos}")

    def skip_whitespace(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def peek(self) -> str:
        if self.pos >= len(self.text):
            self.fail("unexpected end of input")
        return self.text[self.pos]

    def value(self) -> Any:
        char = self.peek()
        if char == "{":
            return self.members()
        if char == "[":
            return self.items()
        if char in "\"'":
            return self.string()
        if char in "ntf":
            word = self.bare_name()
            if word not in _LITERALS:
                self.fail(f"unexpected token {word!r}")
            return _LITERALS[word]
        if char.isdigit() or char in "-.":
            return self.number()
        self.fail(f"unrecognized token {char!r}")
        return None  # pragma: no cover - fail() raises

    def members(self) -> dict[str, Any]:
        self.pos += 1
        result: dict[str, Any] = {}
        self.skip_whitespace()
        if self.peek() == "}":
            self.pos += 1
            return result
        while True:
            self.skip_whitespace()
            name = self.string() if self.peek() in "\"'" else self.bare_name()
            if not name:
                self.fail("invalid property name or unexpected comma")
            self.skip_whitespace()
            if self.peek() != ":":
                self.fail(f"missing colon after the property name {name!r}")
            self.pos += 1
            self.skip_whitespace()
            result[name] = self.value()
            self.skip_whitespace()
            char = self.peek()
            self.pos += 1
            if char == "}":
                return result
            if char != ",":
                self.pos -= 1
                self.fail("missing comma between properties")
            self.skip_whitespace()
            if self.peek() == "}":
                self.fail("unexpected comma before '}'")

    def items(self) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        self.skip_whitespace()
        if self.peek() == "]":
            self.pos += 1
            return result
        while True:
            self.skip_whitespace()
            result.append(self.value())
            self.skip_whitespace()
            char = self.peek()
            self.pos += 1
            if char == "]":
                return result
            if char != ",":
                self.pos -= 1
                self.fail("missing comma between array items")
            self.skip_whitespace()
            if self.peek() == "]":
                self.fail("unexpected comma before ']'")

    def bare_name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] in "_$"
        ):
            self.pos += 1
        return self.text[start : self.pos]

    def string(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                self.fail("unterminated string")
            char = self.text[self.pos]
            self.pos += 1
            if char == quote:
                return "".join(out)
            if char != "\\":
                out.append(char)
                continue
            escape = self.peek()
            self.pos += 1
            if escape == "u":
                out.append(self.unicode_escape())
            elif escape in _ESCAPES:
                out.append(_ESCAPES[escape])
            else:
                self.pos -= 2
                self.fail(f"unrecognized escape sequence '\\{escape}'")

    def unicode_escape(self) -> str:
        digits = self.text[self.pos : self.pos + 4]
        if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
            self.fail(f"unrecognized escape sequence '\\u{digits}'")
        self.pos += 4
        code = int(digits, 16)
        low = self.text[self.pos : self.pos + 6]
        if 0xD800 <= code <= 0xDBFF and re.fullmatch(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}", low):
            self.pos += 6  # a UTF-16 surrogate pair is one character
            return chr(0x10000 + ((code - 0xD800) << 10) + (int(low[2:], 16) - 0xDC00))
        return chr(code)

    def number(self) -> int | float:
        match = _NUMBER_CHARS.match(self.text, self.pos)
        token = match.group(0) if match else ""
        if not _NUMBER.fullmatch(token):
            self.fail(f"invalid number {token!r}")
        self.pos += len(token)
        return int(token) if _INTEGER.fullmatch(token) else float(token)
