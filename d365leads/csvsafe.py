"""Spreadsheet-safe CSV/TSV cells: text that a spreadsheet would run as a formula is neutralised.

Excel, LibreOffice and Google Sheets treat a cell that starts with ``=``, ``+``, ``-`` or ``@``
(and, after their own trimming, a tab or carriage return) as a formula, so a company name of
``=HYPERLINK("http://x")`` in an exported report becomes a live link or worse. Following
OWASP's advice (https://owasp.org/www-community/attacks/CSV_Injection) such a cell gets a
leading single quote, which spreadsheets show as text and do not evaluate. Only text is
touched: numbers written by the program (``-5``) are data, not input from someone else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["FORMULA_PREFIXES", "is_formula_like", "neutralise", "neutralise_row"]

#: First characters that make a spreadsheet evaluate a cell.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet would read ``text`` as a formula."""
    return text.startswith(FORMULA_PREFIXES)


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would evaluate.

    Other values (numbers, booleans, ``None``) are returned unchanged.
    """
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def neutralise_row(values: Iterable[Any]) -> list[Any]:
    """:func:`neutralise` applied to every cell of a row."""
    return [neutralise(value) for value in values]
