"""Stored rows -> Dataverse JSON.

* ``@odata.etag`` is ``W/"<versionnumber>"``;
* lookups read as ``_<attribute>_value``;
* with ``Prefer: odata.include-annotations=…`` (``"*"`` or a comma list, ``*`` wildcards):
  ``@OData.Community.Display.V1.FormattedValue`` for state/status/picklist/bool/money/number/
  date columns and lookups (the target's primary name), and for lookups
  ``@Microsoft.Dynamics.CRM.lookuplogicalname`` and
  ``@Microsoft.Dynamics.CRM.associatednavigationproperty``
  (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/format-results).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

from ..core.values import Row
from ..org.schema import Table
from .display import formatted_value
from .render_plan import (
    FORMATTED,
    LOOKUP_LOGICAL_NAME,
    NAVIGATION_PROPERTY,
    RenderPlan,
    render_plan,
)

__all__ = [
    "FORMATTED",
    "LOOKUP_LOGICAL_NAME",
    "NAVIGATION_PROPERTY",
    "AnnotationFilter",
    "NavigationName",
    "annotation_filter",
    "context_url",
    "entity_plan",
    "etag",
    "serialize_row",
    "serialize_row_unplanned",
]


AnnotationFilter = Callable[[str], bool]
NameResolver = Callable[[str, str], "str | None"]


def etag(row: Row) -> str:
    """The weak ETag of a row."""
    return f'W/"{row["versionnumber"]}"'


def annotation_filter(prefer_value: str | None) -> AnnotationFilter | None:
    """A predicate over annotation names from an ``odata.include-annotations`` value."""
    if prefer_value is None:
        return None
    patterns = [p.strip() for p in prefer_value.split(",") if p.strip()]
    if not patterns:
        return None
    excluded = [p[1:] for p in patterns if p.startswith("-")]
    included = [p for p in patterns if not p.startswith("-")]

    answers: dict[str, bool] = {}  # a page asks the same few names for every row

    def wanted(name: str) -> bool:
        known = answers.get(name)
        if known is None:
            known = not any(fnmatch.fnmatchcase(name, p) for p in excluded) and any(
                fnmatch.fnmatchcase(name, p) for p in included
            )
            answers[name] = known
        return known

    return wanted


class NavigationName(str):
    """A navigation property named in ``@odata.context`` as itself (``primarycontactid``).

    A retrieve with ``$expand`` lists each expanded navigation by its own name (retrieve-entity
    doc), while a *selected* lookup column is listed as ``_<name>_value``; the two can share a
    name, so the caller marks which is which.
    """

    __slots__ = ()


def context_url(base_url: str, table: Table, select: Iterable[str] | None, *, entity: bool) -> str:
    """``@odata.context`` for a collection (``…#leads(a,b)``) or one entity (``/$entity``).

    ``select`` holds attribute names; lookups are listed as ``_<name>_value``, as the
    select-columns doc shows (``accounts(name,_primarycontactid_value)``), and
    :class:`NavigationName` entries as they are.
    """
    names = []
    for name in select or []:
        column = None if isinstance(name, NavigationName) else table.column(name)
        names.append(column.value_property if column is not None else str(name))
    suffix = f"({','.join(names)})" if names else ""
    tail = "/$entity" if entity else ""
    return f"{base_url}$metadata#{table.entity_set}{suffix}{tail}"


_CURRENCY = "transactioncurrencyid"


def serialize_row(
    table: Table,
    row: Row,
    *,
    select: Iterable[str] | None = None,
    annotations: AnnotationFilter | None = None,
    resolve_name: NameResolver | None = None,
) -> dict[str, Any]:
    """One row as a Web API entity (without ``@odata.context``).

    ``select`` lists attribute names (``None`` = every column); the primary key is always
    returned.  ``resolve_name(table, id)`` gives a lookup target's primary name for its
    FormattedValue annotation.  The work per column is planned once per table, ``select``
    and annotation set (:func:`.render_plan.render_plan`).
    """
    plan = entity_plan(table, select, annotations, names_lookups=resolve_name is not None)
    return plan.render(row, resolve_name)


def entity_plan(
    table: Table,
    select: Iterable[str] | None,
    annotations: AnnotationFilter | None,
    *,
    names_lookups: bool,
) -> RenderPlan:
    """The plan :func:`serialize_row` renders through (``names_lookups``: a name resolver is
    given); :meth:`~.render_plan.RenderPlan.render_text` gives the same entity as JSON text."""
    return render_plan(
        table,
        select,
        formatted=annotations is not None and annotations(FORMATTED),
        navigation=annotations is not None and annotations(NAVIGATION_PROPERTY),
        logical_name=annotations is not None and annotations(LOOKUP_LOGICAL_NAME),
        names_lookups=names_lookups,
    )


def serialize_row_unplanned(
    table: Table,
    row: Row,
    *,
    select: Iterable[str] | None = None,
    annotations: AnnotationFilter | None = None,
    resolve_name: NameResolver | None = None,
) -> dict[str, Any]:
    """:func:`serialize_row` read column by column, with no plan.

    The straightforward reading the plan (:mod:`.render_plan`) must match byte for byte; the
    tests hold the two to equal output on generated rows.
    """
    out: dict[str, Any] = {"@odata.etag": etag(row)}
    names = list(select) if select is not None else [c.name for c in table.columns]
    # "When you select a money column, _transactioncurrencyid_value is also returned"
    # (select-columns doc): the currency comes with any money value.
    money = any((c := table.column(n)) is not None and c.type == "money" for n in names)
    if money and _CURRENCY not in names and table.column(_CURRENCY) is not None:
        names.append(_CURRENCY)
    if table.primary_key not in names:
        names.append(table.primary_key)
    for name in names:
        column = table.column(name)
        if column is None:
            continue
        value = row.get(name)
        prop = column.value_property
        out[prop] = value
        if annotations is None or value is None:
            continue
        if column.is_lookup:
            target = row.get(column.type_attribute) if column.is_polymorphic else None
            target = target or (column.targets[0] if column.targets else None)
            if target is None:
                continue
            if annotations(FORMATTED) and resolve_name is not None:
                label = resolve_name(target, str(value))
                if label is not None:
                    out[f"{prop}@{FORMATTED}"] = label
            if annotations(NAVIGATION_PROPERTY):
                out[f"{prop}@{NAVIGATION_PROPERTY}"] = column.navigation.get(target, column.name)
            if annotations(LOOKUP_LOGICAL_NAME):
                out[f"{prop}@{LOOKUP_LOGICAL_NAME}"] = target
        elif annotations(FORMATTED):
            text = formatted_value(column, value)
            if text is not None:
                out[f"{prop}@{FORMATTED}"] = text
    return out
