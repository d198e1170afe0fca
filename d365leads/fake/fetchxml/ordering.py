"""Sorting: ``<order>`` elements, nulls first, the primary key as the last tie-breaker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SortKey", "compare", "sort_rows"]


@dataclass(frozen=True)
class SortKey:
    """One sort column: a comparable value of a row, and its direction."""

    value: Callable[[Any], Any]
    descending: bool = False


def _compare_values(left: Any, right: Any) -> int:
    # SQL Server sorts nulls before every value.
    if left is None or right is None:
        return (left is not None) - (right is not None)
    return int(left > right) - int(left < right)


def compare(left: Sequence[Any], right: Sequence[Any], keys: Sequence[SortKey]) -> int:
    """Compare two key tuples (one value per ``keys`` entry) in the query's order."""
    for a, b, key in zip(left, right, keys, strict=True):
        result = _compare_values(a, b)
        if result:
            return -result if key.descending else result
    return 0


def sort_rows(rows: list[Any], keys: Sequence[SortKey]) -> list[tuple[tuple[Any, ...], Any]]:
    """``rows`` sorted by ``keys`` (as :func:`compare` orders them), each with its key tuple."""
    keyed = [(tuple(key.value(row) for key in keys), row) for row in rows]
    # One stable sort per key, least significant first: the same order as compare(), without
    # a Python-level comparison per pair.
    for index in reversed(range(len(keys))):
        keyed.sort(key=_nulls_first(index), reverse=keys[index].descending)
    return keyed


def _nulls_first(index: int) -> Callable[[tuple[tuple[Any, ...], Any]], tuple[Any, ...]]:
    def key(item: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
        value = item[0][index]
        return (False,) if value is None else (True, value)

    return key
