"""Stored rows -> Dataverse JSON through a plan made once per table, ``$select`` and annotations.

:func:`~d365leads.fake.wire.serialize.serialize_row` renders a page row by row; every row of a
page has the same table, the same ``$select`` and the same ``Prefer`` annotations, so what to
do with each column (its wire name, whether it carries a FormattedValue and how that text is
made, the lookup annotation keys) is decided here once, not once per column of every row.

What is *not* cached, and why:

* values, ETags and formatted texts of a row are read from the row itself on every render, so a
  write to the row shows on the next read whatever its version;
* a lookup's FormattedValue (the target's primary name) is read from the store on every render
  through ``resolve_name``: a renamed account shows its new name in a lead's
  ``_parentaccountid_value@…FormattedValue`` on the next read, with nothing to invalidate;
* only the text of a date-time value is memoised (:func:`_datetime_text`), keyed by the stored
  text itself: a pure function of its key, so it can never be stale.

:meth:`RenderPlan.render_text` writes the same entity straight to JSON text, byte for byte
``json.dumps(render(row))`` (:mod:`.row_text`).  Keeping whole row texts per store state is
the collection handler's business (``handlers/row_texts.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..core.values import Row
from ..org.schema import Column, Table
from .display import format_date, format_datetime, format_number
from .row_text import FORMAT, LOOKUP, PLAIN, RUN, TextPlan, json_key

__all__ = [
    "FORMATTED",
    "LOOKUP_LOGICAL_NAME",
    "NAVIGATION_PROPERTY",
    "RenderPlan",
    "formatter",
    "render_plan",
]

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION_PROPERTY = "Microsoft.Dynamics.CRM.associatednavigationproperty"

NameResolver = Callable[[str, str], "str | None"]
Formatter = Callable[[Any], "str | None"]

# "When you select a money column, _transactioncurrencyid_value is also returned"
# (select-columns doc): the currency comes with any money value.
_CURRENCY = "transactioncurrencyid"

_RUN = RUN
_PLAIN = PLAIN
_FORMAT = FORMAT
_LOOKUP = LOOKUP
_RUN_MIN = 4


_ETAG_KEY = "@odata.etag"
_prefix = json_key


_DATETIME_TEXTS: dict[str, str] = {}
_DATETIME_LIMIT = 8192


def _datetime_text(value: Any) -> str:
    text = str(value)
    found = _DATETIME_TEXTS.get(text)
    if found is None:
        found = format_datetime(text)
        if len(_DATETIME_TEXTS) >= _DATETIME_LIMIT:
            _DATETIME_TEXTS.clear()
        _DATETIME_TEXTS[text] = found
    return found


def formatter(column: Column) -> Formatter | None:
    """How a non-lookup column's FormattedValue is made (never called with ``None``), or
    ``None`` when the column has no FormattedValue."""
    kind = column.type
    if kind in ("state", "status", "picklist"):
        options = column.options
        return lambda value: options.get(int(value), str(value))
    if kind == "bool":
        labels = column.options
        if labels:
            return lambda value: labels.get(int(bool(value)), "Yes" if value else "No")
        return lambda value: "Yes" if value else "No"
    if kind == "money":
        return lambda value: "$" + format_number(float(value), 2)
    if kind in ("int", "bigint"):
        return lambda value: format_number(int(value), 0)
    if kind == "decimal":
        return lambda value: format_number(float(value), 2)
    if kind == "datetime":
        return _datetime_text
    if kind == "date":
        return lambda value: format_date(str(value))
    return None


class RenderPlan:
    """What :meth:`render` writes for each column of one table, ``$select`` and annotation set.

    Build it with :func:`render_plan` (which keeps the plans it made).  A plan holds no row
    data: it is safe to share between threads and requests.
    """

    __slots__ = ("_steps", "_text", "table")

    def __init__(
        self,
        table: Table,
        select: Iterable[str] | None,
        *,
        formatted: bool,
        navigation: bool,
        logical_name: bool,
        names_lookups: bool,
    ) -> None:
        self.table = table
        names = list(select) if select is not None else [c.name for c in table.columns]
        by_name = {c.name: c for c in reversed(table.columns)}  # first column of a name wins
        money = any((c := by_name.get(n)) is not None and c.type == "money" for n in names)
        if money and _CURRENCY not in names and _CURRENCY in by_name:
            names.append(_CURRENCY)
        if table.primary_key not in names:
            names.append(table.primary_key)
        # A name listed twice renders once, where it first appears (as a dict write would).
        columns = list(
            {c.name: c for c in (by_name.get(n) for n in names) if c is not None}.values()
        )
        # A page row is mostly plain columns: a run of them is copied by one C-level
        # ``dict.update``; a column that may carry annotations is a step of its own.
        steps: list[tuple[Any, ...]] = []
        run: list[Column] = []
        for column in columns:
            step = _step(column, formatted, navigation, logical_name, names_lookups)
            if step is None:
                run.append(column)
                continue
            steps.extend(_plain(run))
            run = []
            steps.append(step)
        steps.extend(_plain(run))
        self._steps = tuple(steps)
        keys = [_ETAG_KEY]
        for step in steps:
            keys.extend(step[2] if step[0] == _RUN else _keys(step))
        # Text rendering writes every key it meets; a dict keeps one per key.  They agree only
        # when no two columns share a key, which holds for every catalogue table.
        self._text = TextPlan(self._steps) if len(set(keys)) == len(keys) else None

    def render(self, row: Row, resolve_name: NameResolver | None = None) -> dict[str, Any]:
        """``row`` as a Web API entity (without ``@odata.context``)."""
        out: dict[str, Any] = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
        get = row.get
        for step in self._steps:
            kind = step[0]
            if kind == _RUN:
                out.update(zip(step[2], map(get, step[1]), strict=True))
                continue
            value = get(step[1])
            out[step[2]] = value
            if kind == _PLAIN or value is None:
                continue
            if kind == _FORMAT:
                text = step[4](value)
                if text is not None:
                    out[step[5]] = text
                continue
            _, _, _, _, type_attribute, default, name_key, nav_key, table_key, nav, own = step
            target = get(type_attribute) if type_attribute is not None else None
            target = target or default
            if target is None:
                continue
            if name_key is not None and resolve_name is not None:
                label = resolve_name(target, str(value))
                if label is not None:
                    out[name_key[0]] = label
            if nav_key is not None:
                out[nav_key[0]] = nav.get(target, own)
            if table_key is not None:
                out[table_key[0]] = target
        return out

    def render_text(
        self,
        row: Row,
        resolve_name: NameResolver | None = None,
        memo: dict[tuple[str, str, Any], str] | None = None,
    ) -> str:
        """``json.dumps(self.render(row, resolve_name))``, written without the dict
        (:class:`.row_text.TextPlan`; ``memo`` keeps lookup fragments for one request)."""
        if self._text is None:
            return json.dumps(self.render(row, resolve_name))
        return self._text.render(row, resolve_name, memo)


def _keys(step: tuple[Any, ...]) -> list[str]:
    """The JSON keys a (non-run) step may write."""
    keys = [step[2]]
    if step[0] == _FORMAT:
        keys.append(step[5])
    elif step[0] == _LOOKUP:
        keys.extend(k[0] for k in step[6:9] if k is not None)
    return keys


def _plain(run: list[Column]) -> list[tuple[Any, ...]]:
    """Steps for a run of columns without annotations: one bulk copy when it pays."""
    if len(run) >= _RUN_MIN:
        props = tuple(c.value_property for c in run)
        return [(_RUN, tuple(c.name for c in run), props, tuple(map(_prefix, props)))]
    return [(_PLAIN, c.name, c.value_property, _prefix(c.value_property)) for c in run]


def _annotation(prop: str, name: str, wanted: bool) -> tuple[str, str] | None:
    """``(key, prefix)`` of the annotation ``name`` of ``prop`` when it is wanted."""
    if not wanted:
        return None
    key = f"{prop}@{name}"
    return key, _prefix(key)


def _step(
    column: Column, formatted: bool, navigation: bool, logical_name: bool, names_lookups: bool
) -> tuple[Any, ...] | None:
    """The annotation work of one column, or ``None`` when it never carries an annotation."""
    prop = column.value_property
    if column.is_lookup:
        name_key = _annotation(prop, FORMATTED, formatted and names_lookups)
        nav_key = _annotation(prop, NAVIGATION_PROPERTY, navigation)
        table_key = _annotation(prop, LOOKUP_LOGICAL_NAME, logical_name)
        if name_key is None and nav_key is None and table_key is None:
            return None
        return (
            _LOOKUP,
            column.name,
            prop,
            _prefix(prop),
            column.type_attribute if column.is_polymorphic else None,
            column.targets[0] if column.targets else None,
            name_key,
            nav_key,
            table_key,
            column.navigation,
            column.name,
        )
    make = formatter(column) if formatted else None
    if make is None:
        return None
    key = f"{prop}@{FORMATTED}"
    return (_FORMAT, column.name, prop, _prefix(prop), make, key, _prefix(key))


_PLANS: dict[tuple[Any, ...], tuple[Table, RenderPlan]] = {}
_PLANS_LOCK = threading.Lock()
_PLANS_LIMIT = 512


def render_plan(
    table: Table,
    select: Iterable[str] | None,
    *,
    formatted: bool,
    navigation: bool,
    logical_name: bool,
    names_lookups: bool,
) -> RenderPlan:
    """The plan for ``table`` (this very object), ``select`` and the annotations asked for.

    Plans are kept per table object: a tenant's merged table (custom status labels) is another
    object and gets its own plan, so labels never leak between tables.
    """
    chosen = tuple(select) if select is not None else None
    key = (id(table), chosen, formatted, navigation, logical_name, names_lookups)
    cached = _PLANS.get(key)
    if cached is not None and cached[0] is table:
        return cached[1]
    plan = RenderPlan(
        table,
        chosen,
        formatted=formatted,
        navigation=navigation,
        logical_name=logical_name,
        names_lookups=names_lookups,
    )
    with _PLANS_LOCK:
        if len(_PLANS) >= _PLANS_LIMIT:
            _PLANS.clear()
        _PLANS[key] = (table, plan)
    return plan
