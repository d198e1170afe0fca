"""What each key of a wire row is to a model's row plan (column, annotation, lookup, ...).

The rules are those of the reference reading in ``DataverseModel._from_wire_validated``.
"""

from __future__ import annotations

import operator
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from types import NoneType, UnionType
from typing import Any, Final
from uuid import UUID

from d365leads import _wire

__all__ = [
    "ANNOTATION",
    "ETAG",
    "EXTRA",
    "FIELD",
    "FORMATTED",
    "LOOKUP",
    "SCALARS",
    "SLOW",
    "TABLE",
    "TABLE_OTHER",
    "classify",
    "is_scalar",
    "is_text",
    "only_target",
    "tuple_getter",
]

# What a wire key is; the read loop branches on these.
FIELD: Final = 0  # a declared plain column
FORMATTED: Final = 1  # <column>@OData.Community.Display.V1.FormattedValue
LOOKUP: Final = 2  # _<nav>_value of a declared lookup
TABLE: Final = 3  # _<nav>_value@...lookuplogicalname of a declared lookup
EXTRA: Final = 4  # a column the model does not declare
ANNOTATION: Final = 5  # any other annotation, kept by wire key
TABLE_OTHER: Final = 6  # lookuplogicalname of a lookup the model does not declare
ETAG: Final = 7  # @odata.etag
SLOW: Final = 8  # a lookup field under its own name: only the reference path reads it

#: Types whose pydantic validation never accepts a dict or a list, so a row holding one in such a
#: column fails validation and goes to the reference path (which keeps it as expanded JSON).
SCALARS: Final = (NoneType, str, int, float, bool, Decimal, date, datetime, UUID)


def is_text(annotation: Any) -> bool:
    """Whether a field annotation is ``str`` or ``str | None``."""
    return annotation is str or set(typing.get_args(annotation)) == {str, NoneType}


def only_target(targets: tuple[str, ...]) -> str | None:
    """The one table a lookup can point at, or ``None`` when it has several."""
    return targets[0] if len(targets) == 1 else None


def is_scalar(annotation: Any) -> bool:
    """Whether a field annotation only admits scalars (never a dict or a list)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or isinstance(annotation, UnionType):
        return all(is_scalar(arg) for arg in typing.get_args(annotation))
    if origin is not None or not isinstance(annotation, type):
        return False
    return issubclass(annotation, Enum) or annotation in SCALARS


def classify(
    key: str, fields: Mapping[str, bool], lookup_keys: Mapping[str, Any]
) -> tuple[int, str]:
    """What ``key`` is, by the same rules as the reference path (see ``from_wire``)."""
    if key == _wire.ODATA_ETAG:
        return ETAG, key
    if key.startswith("@"):
        return ANNOTATION, key
    if "@" in key:
        base, _, suffix = key.partition("@")
        suffix = "@" + suffix
        if suffix == _wire.ANNOTATION_FORMATTED:
            return FORMATTED, base
        if suffix == _wire.ANNOTATION_LOOKUP_LOGICAL_NAME:
            return (TABLE if base in lookup_keys else TABLE_OTHER), base
        return ANNOTATION, key
    if key in lookup_keys:
        return LOOKUP, key
    is_lookup = fields.get(key)
    if is_lookup is None:
        return EXTRA, key
    return (SLOW if is_lookup else FIELD), key


def tuple_getter(keys: list[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function giving the values of ``keys`` of a row as a tuple (C-level for 2+ keys)."""
    if not keys:
        return lambda row: ()
    if len(keys) == 1:
        key = keys[0]
        return lambda row: (row[key],)
    return operator.itemgetter(*keys)
