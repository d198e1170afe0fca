"""OData literal quoting and the immutable query builder."""

from __future__ import annotations

from d365leads.odata.literals import LiteralValue, literal, normalize_guid
from d365leads.odata.query import Column, Expr, Query, col, raw

__all__ = [
    "Column",
    "Expr",
    "LiteralValue",
    "Query",
    "col",
    "literal",
    "normalize_guid",
    "raw",
]
