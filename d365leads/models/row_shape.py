"""RowShape: the keys of one row shape, sorted once by what they are, for a RowPlan.

Rows of one query repeat the same keys in the same order. A shape groups them by the type check
they need, so that :class:`~d365leads.models.row_plan.RowPlan` reads a row of a known shape with
a few C-level item getters and one type check per group instead of a branch per key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from d365leads import _wire
from d365leads.models.wire_keys import (
    ANNOTATION,
    EXTRA,
    FIELD,
    FORMATTED,
    LOOKUP,
    TABLE,
    TABLE_OTHER,
    tuple_getter,
)

__all__ = ["RowShape"]


class _Plan(Protocol):
    """What a shape reads of its plan (``RowPlan``, which imports this module)."""

    @property
    def texts(self) -> frozenset[str]:
        """The text columns."""

    @property
    def enums(self) -> list[str]:
        """The state and status columns read as enums."""

    @property
    def lookups(self) -> Mapping[str, tuple[str, tuple[str, ...], str | None]]:
        """``_<nav>_value`` -> (field, targets, the one target)."""


class RowShape:
    """The keys of a row, in the order a page sends them, sorted once by what they are.

    Rows of one query repeat the same keys, so a row of a known shape is read with a few
    C-level item getters instead of a branch per key.
    """

    def __init__(self, plan: _Plan, keys: tuple[str, ...], kinds: list[tuple[int, str]]) -> None:
        def select(kind: int) -> list[tuple[str, str]]:
            return [
                (key, entry[1]) for key, entry in zip(keys, kinds, strict=True) if entry[0] == kind
            ]

        self.size = len(keys)
        columns = [key for key, _ in select(FIELD)]
        self.texts = [key for key in columns if key in plan.texts]
        self.n_texts = len(self.texts)
        self.typed = {key for key in columns if key not in plan.texts}
        lookups = [key for key, _ in select(LOOKUP)]
        self.get_text_or_null = tuple_getter(self.texts + lookups)
        # A lookup's formatted value is also kept under the lookup's own name.
        labels = select(FORMATTED)
        labels += [(key, plan.lookups[base][0]) for key, base in labels if base in lookups]
        self.formatted = [base for _, base in labels]
        self.n_labels = len(labels)
        # The table names of the lookups read from their annotation, by position.
        at = {base: key for key, base in select(TABLE) if base in lookups}
        self.get_text = tuple_getter([key for key, _ in labels] + list(at.values()))
        self.extra = [key for key, _ in select(EXTRA)]
        self.get_extra = tuple_getter(self.extra)
        self.annotations = [key for key, _ in select(ANNOTATION)]
        self.n_annotations = len(self.annotations)
        self.get_enums = tuple_getter([name for name in plan.enums if name in keys])
        self.other_tables = [key for key, _ in select(TABLE_OTHER)]
        self.etag = _wire.ODATA_ETAG in keys
        self.get_kept = tuple_getter(
            self.annotations + self.other_tables + ([_wire.ODATA_ETAG] if self.etag else [])
        )
        position = {base: i for i, base in enumerate(at)}
        self.lookups = [
            (key, plan.lookups[key][0], plan.lookups[key][1], position.get(key, -1))
            for key in lookups
        ]
        #: every field set: the columns, every lookup sent (null or not), the tenant columns
        self.fields_set = frozenset(
            {*columns, *(plan.lookups[key][0] for key in lookups), *self.extra}
        )
