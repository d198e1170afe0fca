"""Read a page of rows and keep each row's JSON text exactly as it came on the wire.

A sync stores every row twice: typed in columns and whole as JSON (``_raw``). Encoding each
parsed row back to JSON costs more than parsing it, so each element of the ``value`` array is
cut out of the page text instead (a string slice). The parsed page equals ``json.loads`` of the
same text: same scanner, same rules, the last of duplicate keys wins, trailing data is refused.

Usually the page is parsed by ``json.loads`` itself (the C scanner's key memo then spans the
whole page, so rows share their key strings) and the rows' boundaries come from C-level string
searches, checked against the parse: when the text holds exactly one ``{`` per parsed row plus
the page's own, every ``{`` is a row's start (none is in a string, no row nests an object), so
row ``i`` ends at the last ``}`` before row ``i + 1`` starts; the last row's end comes from the
stdlib scanner. Any other page (a brace in a string, nested objects, rows that are not objects)
is read member by member and row by row with the stdlib scanner (:func:`_read_by_rows`).
"""

from __future__ import annotations

import json
import re
from json import JSONDecodeError
from typing import Any

from d365leads.http.json_body import json_object
from d365leads.http.transport import Response

__all__ = ["page_with_texts", "read_page"]

# raw_decode parses one value at an index (no blanks before it) and returns where it ended.
_value = json.JSONDecoder().raw_decode
_blanks = re.compile(r"[ \t\n\r]*").match  # JSON's four blanks, as json.loads skips them


def _skip(text: str, idx: int) -> int:
    """The index of the first non-blank at or after ``idx``."""
    found = _blanks(text, idx)
    assert found is not None  # the pattern matches the empty string
    return found.end()


def _expect(text: str, idx: int, char: str, what: str) -> int:
    """The index after ``char`` at ``idx`` (blanks before it skipped), else a decode error."""
    idx = _skip(text, idx)
    if text[idx : idx + 1] != char:
        raise JSONDecodeError(f"Expecting {what}", text, idx)
    return idx + 1


def _rows(text: str, idx: int) -> tuple[list[Any], list[str], int]:
    """Parse the array starting at ``text[idx] == "["``: its items, their texts, the end."""
    rows: list[Any] = []
    texts: list[str] = []
    idx = _skip(text, idx + 1)
    if text[idx : idx + 1] == "]":
        return rows, texts, idx + 1
    while True:
        start = idx
        row, idx = _value(text, idx)
        rows.append(row)
        texts.append(text[start:idx])
        idx = _skip(text, idx)
        char = text[idx : idx + 1]
        if char == "]":
            return rows, texts, idx + 1
        if char != ",":
            raise JSONDecodeError("Expecting ',' delimiter", text, idx)
        idx = _skip(text, idx + 1)


def _fast_row_texts(text: str, body: Any) -> list[str] | None:
    """The row texts of a page ``json.loads`` gave ``body`` for, when its braces are all rows'
    (see the module's docstring); else ``None``."""
    if type(body) is not dict:
        return None
    rows = body.get("value")
    if type(rows) is not list or not rows or text.count("{") != len(rows) + 1:
        return None
    for row in rows:
        if type(row) is not dict:
            return None
    find, rfind = text.find, text.rfind
    start = find("{", find("{") + 1)  # after the page's own "{", which comes first
    texts: list[str] = []
    for _ in range(len(rows) - 1):
        after = find("{", start + 1)
        end = rfind("}", start, after) + 1
        texts.append(text[start:end])
        start = after
    texts.append(text[start : _value(text, start)[1]])
    return texts


def read_page(text: str) -> tuple[Any, list[str] | None]:
    """Parse a page body: ``(the JSON value, the text of each element of its "value" array)``.

    The texts are ``None`` when the body is not an object with a ``value`` array (the caller
    refuses such a page). Malformed JSON raises :class:`json.JSONDecodeError` (a ``ValueError``)
    as ``json.loads`` would.
    """
    if text.count("{", 0, 4096) > 1:  # rows follow soon after the page's "{": worth a try
        body = json.loads(text)
        texts = _fast_row_texts(text, body)
        if texts is not None:
            return body, texts
    return _read_by_rows(text)


def _read_by_rows(text: str) -> tuple[Any, list[str] | None]:
    """:func:`read_page` by the stdlib scanner alone: each top-level member, each row."""
    idx = _skip(text, 0)
    if text[idx : idx + 1] != "{":
        value, end = _value(text, idx)
        if _skip(text, end) != len(text):
            raise JSONDecodeError("Extra data", text, end)
        return value, None
    body: dict[str, Any] = {}
    texts: list[str] | None = None
    idx = _skip(text, idx + 1)
    if text[idx : idx + 1] == "}":
        idx += 1
    else:
        while True:
            if text[idx : idx + 1] != '"':
                raise JSONDecodeError(
                    "Expecting property name enclosed in double quotes", text, idx
                )
            key, idx = _value(text, idx)
            idx = _skip(text, _expect(text, idx, ":", "':' delimiter"))
            if key == "value" and text[idx : idx + 1] == "[":
                body[key], texts, idx = _rows(text, idx)
            else:
                body[key], idx = _value(text, idx)
                if key == "value":
                    texts = None
            idx = _skip(text, idx)
            char = text[idx : idx + 1]
            if char == "}":
                idx += 1
                break
            if char != ",":
                raise JSONDecodeError("Expecting ',' delimiter", text, idx)
            idx = _skip(text, idx + 1)
    if _skip(text, idx) != len(text):
        raise JSONDecodeError("Extra data", text, idx)
    return body, texts


def page_with_texts(response: Response) -> tuple[dict[str, Any], list[str] | None]:
    """The JSON object of a page answer (checked as :func:`json_object` checks it) and the text
    of each row of its ``value`` array."""
    kept: list[list[str] | None] = [None]

    def decode(text: str) -> Any:
        body, kept[0] = read_page(text)
        return body

    return json_object(response, method="GET", decode=decode), kept[0]
