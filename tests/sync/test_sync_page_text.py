"""The page reader that keeps each row's JSON text: same values as json.loads, exact slices."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d365leads.http.page_text import _fast_row_texts, _read_by_rows, read_page

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_rows = st.lists(st.dictionaries(st.text(), _values, max_size=6), max_size=6)
_members = st.dictionaries(st.text().filter(lambda k: k != "value"), _values, max_size=3)


def _page(rows: list[Any], members: dict[str, Any], *, indent: int | None, ascii_only: bool) -> str:
    body = {**members, "value": rows}
    return json.dumps(body, indent=indent, ensure_ascii=ascii_only)


@settings(max_examples=150, deadline=None)
@given(_rows, _members, st.sampled_from([None, 0, 2]), st.booleans())
def test_a_page_parses_as_json_loads_and_each_row_text_is_that_row(
    rows: list[Any], members: dict[str, Any], indent: int | None, ascii_only: bool
) -> None:
    text = _page(rows, members, indent=indent, ascii_only=ascii_only)
    body, texts = read_page(text)
    assert body == json.loads(text)
    assert texts is not None and len(texts) == len(rows)
    assert [json.loads(t) for t in texts] == rows
    # Each text is a slice of the page, in order: nothing was re-encoded.
    at = 0
    for row_text in texts:
        at = text.index(row_text, at) + len(row_text)


@pytest.mark.parametrize(
    "text",
    [
        ' \n{ "@odata.context" : "x" ,\t"value" : [ {"a": 1} , {"b": "\\u00e9\\"}"} ] }\r\n',
        '{"value":[{"a":1}],"@odata.nextLink":"https://org/api/data/v9.2/leads?$skiptoken=1"}',
        '{"value":[]}',
        "{}",
        '{"value":1,"value":[{"a":2}]}',  # the last of duplicate keys wins, as in json.loads
        '{"value":[{"a":2}],"value":null}',
        '{"value":[1,"two",[3],null]}',
        "[1, 2]",
        '"text"',
    ],
)
def test_documents_parse_exactly_as_json_loads(text: str) -> None:
    body, texts = read_page(text)
    assert body == json.loads(text)
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        assert texts is not None
        assert [json.loads(t) for t in texts] == body["value"]
    else:
        assert texts is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Expecting value"),
        ("{", "Expecting property name"),
        ('{"value":[{"a":1},]}', "Expecting value"),
        ('{"value":[{"a":1} {"b":2}]}', "Expecting ',' delimiter"),
        ('{"value":[{"a":1}]', "Expecting ',' delimiter"),
        ('{"value" [1]}', "Expecting ':' delimiter"),
        ('{"value":[1]} trailing', "Extra data"),
        ("{value:[1]}", "Expecting property name"),
        ('{"value":[{"a":1}', "Expecting ',' delimiter"),
        ("[1] 2", "Extra data"),
    ],
)
def test_malformed_pages_are_refused_as_json_loads_refuses_them(text: str, message: str) -> None:
    with pytest.raises(json.JSONDecodeError, match=message):
        read_page(text)
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


# Dataverse-like pages: flat rows whose strings are full of braces, quotes, backslashes and
# non-ASCII text, laid out with and without blanks; rows sometimes nest an object or a list.
_tricky = st.text(
    alphabet=st.sampled_from(list('{}[]",:\\/ a\u00e9\u4e2d\U0001f600\n\t')), max_size=8
)
_flat = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _tricky
_cell = _flat | st.lists(_flat, max_size=2) | st.dictionaries(_tricky, _flat, max_size=2)
_flat_rows = st.lists(
    st.dictionaries(_tricky | st.sampled_from(["leadid", "@odata.etag"]), _flat, max_size=5)
    | st.dictionaries(_tricky, _cell, max_size=3),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    _flat_rows,
    st.dictionaries(st.sampled_from(["@odata.context", "@odata.nextLink", "x"]), _tricky),
    st.sampled_from([None, 0, 1]),
    st.booleans(),
    st.booleans(),
)
def test_row_texts_from_the_brace_scan_are_the_scanners_exactly(
    rows: list[dict[str, Any]],
    members: dict[str, Any],
    indent: int | None,
    ascii_only: bool,
    value_first: bool,
) -> None:
    body = {"value": rows, **members} if value_first else {**members, "value": rows}
    text = json.dumps(body, indent=indent, ensure_ascii=ascii_only)
    parsed, texts = read_page(text)
    assert parsed == json.loads(text)
    assert texts == _read_by_rows(text)[1]  # the stdlib scanner's cut of every row
    assert texts is not None and [json.loads(t) for t in texts] == rows


def test_a_page_without_open_braces_in_its_strings_takes_the_brace_scan() -> None:
    rows = [{"leadid": str(i), "@odata.etag": 'W/"1"', "subject": "a\\b\u00e9"} for i in range(3)]
    text = json.dumps({"@odata.context": "c", "value": rows, "@odata.nextLink": "n"})
    assert _fast_row_texts(text, json.loads(text)) == _read_by_rows(text)[1]
    rows[1]["subject"] = "a } closes nothing"  # row 2 still ends at the last "}" before row 3
    text = json.dumps({"value": rows})
    assert _fast_row_texts(text, json.loads(text)) == _read_by_rows(text)[1]
    rows[1]["subject"] = "a { opens nothing"
    text = json.dumps({"value": rows})
    assert _fast_row_texts(text, json.loads(text)) is None  # the scanner reads this one
    assert read_page(text)[1] == _read_by_rows(text)[1]
