"""Query builder, filter expressions, and the no-injection property."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d365leads import InvalidInputError, Query, col, raw
from d365leads.http import encode_params

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_/.]*)"
    r"|(?P<number>-?[0-9][0-9.:TZ-]*))"
)


def tokenize(text: str) -> list[tuple[str, str]]:
    """A tiny OData filter tokenizer: strings (with '' escapes), punctuation, words, numbers."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        assert match and match.end() > pos, f"cannot tokenize {text[pos:]!r}"
        kind = match.lastgroup
        assert kind is not None
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        tokens.append((kind, value))
        pos = match.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
    return tokens


def test_builder_output() -> None:
    q = (
        Query("leads")
        .select("fullname", "subject")
        .where(col("statecode") == 0, col("subject").contains("Contoso"))
        .order_by("createdon desc", "-fullname", "lastname asc")
        .top(50)
        .expand("parentaccountid", select=["name"])
        .count()
    )
    assert q.to_params() == {
        "$select": "fullname,subject",
        "$filter": "statecode eq 0 and contains(subject,'Contoso')",
        "$orderby": "createdon desc,fullname desc,lastname",
        "$top": "50",
        "$expand": "parentaccountid($select=name)",
        "$count": "true",
    }


def test_queries_are_immutable() -> None:
    base = Query("leads").select("fullname")
    narrowed = base.where(col("statecode") == 0)
    assert base.to_params() == {"$select": "fullname"}
    assert narrowed is not base
    with pytest.raises(AttributeError):
        base.top_ = 3  # type: ignore[misc]


def test_operators_and_precedence() -> None:
    a = col("a") == 1
    b = col("b") != "x"
    c = col("c") > dt.date(2024, 1, 1)
    assert ((a | b) & c).to_odata() == "(a eq 1 or b ne 'x') and c gt 2024-01-01"
    assert (a | (b & c)).to_odata() == "a eq 1 or b ne 'x' and c gt 2024-01-01"
    assert (~(a & b)).to_odata() == "not (a eq 1 and b ne 'x')"
    assert (col("n") <= 5).to_odata() == "n le 5"
    assert (col("n") >= 5).to_odata() == "n ge 5"
    assert (col("n") < 5).to_odata() == "n lt 5"
    assert (col("a") == col("b")).to_odata() == "a eq b"
    assert col("x").is_null().to_odata() == "x eq null"
    assert col("x").is_not_null().to_odata() == "x ne null"
    assert col("s").startswith("ab").to_odata() == "startswith(s,'ab')"
    assert col("s").endswith("b'c").to_odata() == "endswith(s,'b''c')"
    assert (col("parentaccountid/name") == "A").to_odata() == "parentaccountid/name eq 'A'"


def test_in_and_guids() -> None:
    ids = [uuid.UUID(int=1), uuid.UUID(int=2)]
    expr = col("_parentaccountid_value").in_(ids) & (col("statecode") == 0)
    assert expr.to_odata() == (
        "(_parentaccountid_value eq 00000000-0000-0000-0000-000000000001 or "
        "_parentaccountid_value eq 00000000-0000-0000-0000-000000000002) and statecode eq 0"
    )
    assert col("x").in_([3]).to_odata() == "x eq 3"
    with pytest.raises(InvalidInputError, match="no values"):
        col("x").in_([])


def test_raw_filters_are_parenthesised_when_combined() -> None:
    q = Query("leads").where("statecode eq 0 or statecode eq 1").where(col("subject") == "s")
    assert q.filter_text == "(statecode eq 0 or statecode eq 1) and subject eq 's'"
    assert (raw("a eq 1") | "b eq 2").to_odata() == "(a eq 1) or (b eq 2)"


@pytest.mark.parametrize("name", ["name eq 1", "a)", "", "1abc", "a b", "a;b", "a/"])
def test_bad_column_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInputError):
        col(name)
    with pytest.raises(InvalidInputError):
        Query("leads").select(name or " ")


def test_bad_builder_arguments() -> None:
    with pytest.raises(InvalidInputError):
        Query("leads").top(0)
    with pytest.raises(InvalidInputError):
        Query("leads").order_by("name sideways")
    with pytest.raises(InvalidInputError):
        Query("leads;drop")
    with pytest.raises(TypeError, match="truth value"):
        bool(col("a") == 1)
    with pytest.raises(InvalidInputError):
        col("s").contains(5)  # type: ignore[arg-type]


@given(st.text())
def test_no_string_value_changes_the_structure_of_a_filter(value: str) -> None:
    tokens = tokenize((col("subject") == value).to_odata())
    assert tokens == [("word", "subject"), ("word", "eq"), ("string", value)]

    tokens = tokenize(col("subject").contains(value).to_odata())
    assert tokens == [
        ("word", "contains"),
        ("punct", "("),
        ("word", "subject"),
        ("punct", ","),
        ("string", value),
        ("punct", ")"),
    ]


@given(st.text(), st.text())
def test_no_values_escape_a_combined_filter_or_its_url_encoding(left: str, right: str) -> None:
    query = Query("leads").where((col("a") == left) | ~(col("b") == right)).select("a")
    params = query.to_params()
    tokens = tokenize(params["$filter"])
    kinds = [k for k, _ in tokens]
    comparison = ["word", "word", "string"]
    expected = [*comparison, "word", "word", "punct", *comparison, "punct"]
    assert kinds == expected
    assert tokens[2][1] == left and tokens[8][1] == right
    encoded = encode_params(params)
    pairs = encoded.split("&")
    assert len(pairs) == 2
    decoded = dict(p.split("=", 1) for p in pairs)
    assert unquote(decoded["$filter"]) == params["$filter"]
    assert not set(" +#&?") & set(decoded["$filter"])


def test_expr_is_abstract() -> None:
    from d365leads.odata import Expr

    with pytest.raises(TypeError):
        Expr()  # type: ignore[abstract]
