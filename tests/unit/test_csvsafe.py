"""Unit tests for the spreadsheet-safety helper (OWASP CSV injection)."""

from __future__ import annotations

import pytest

from d365leads.csvsafe import is_formula_like, neutralise, neutralise_row


@pytest.mark.parametrize(
    "text",
    ["=1+2", '=HYPERLINK("http://x")', "+44 20 7946 0000", "-2+3", "@SUM(A1)", "\t=1", "\r=1"],
)
def test_formula_like_text_gets_a_quote(text: str) -> None:
    assert is_formula_like(text)
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize(
    "value", ["Contoso", "", " =1", "a=b", "'=already", 5, -5, 1.5, None, True]
)
def test_other_values_are_unchanged(value: object) -> None:
    assert neutralise(value) == value


def test_row() -> None:
    assert neutralise_row(["=x", -1, "ok"]) == ["'=x", -1, "ok"]
