"""The JSON text of a collection page's rows, kept per row while the store is unchanged.

A row's rendered text depends on the row, on the render plan (the table object with its
labels, ``$select``, the annotations asked for) and on the primary names of the rows its
lookups point to.  The plan is part of the key; rows and names change only through the store,
and every change of the store moves :attr:`~d365leads.fake.org.store.Store.state` (a write
anywhere, a delete, a restore, a clear, a seed).  So the texts are kept for one store state
and all dropped when it moves: a renamed account, a written lead, a changed status label or
``$select`` shows on the next read.  At most :data:`ROW_LIMIT` texts are kept per store.

A first read (a sync pull renders each row once) gains nothing from the cache; it gains from
:meth:`~d365leads.fake.wire.render_plan.RenderPlan.render_text` and from writing each lookup's
annotations once per page (:func:`page_texts`'s memos of names and lookup fragments, one per
request: they are never reused by a later request, so a rename needs no invalidation there).
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from typing import Any

from ..core.values import Row
from ..org.schema import Table
from ..org.state import OrgState
from ..org.states import status_model
from ..org.store import Store
from ..wire.render_plan import RenderPlan
from ..wire.serialize import AnnotationFilter, entity_plan

__all__ = ["ROW_LIMIT", "RowTexts", "page_texts", "texts_of"]

ROW_LIMIT = 10_000
"""Row texts kept per store (an annotated lead is about 3.5 KB of JSON: 35 MB at most)."""


class RowTexts:
    """Row texts by render plan and row id, valid for one store state."""

    __slots__ = ("count", "limit", "state", "texts")

    def __init__(self, state: Hashable, limit: int | None = None) -> None:
        self.state = state
        self.limit = ROW_LIMIT if limit is None else limit
        self.count = 0
        self.texts: dict[RenderPlan, dict[str, str]] = {}

    def of(self, plan: RenderPlan) -> dict[str, str]:
        """The texts rendered through ``plan`` (the dict is shared: add through :meth:`keep`)."""
        found = self.texts.get(plan)
        if found is None:
            found = self.texts[plan] = {}
        return found

    def keep(self, texts: dict[str, str], record_id: str, text: str) -> None:
        """Keep ``text`` in ``texts`` (from :meth:`of`) unless the limit is reached."""
        if self.count < self.limit:
            texts[record_id] = text
            self.count += 1


_TEXTS: weakref.WeakKeyDictionary[Store, RowTexts] = weakref.WeakKeyDictionary()


def texts_of(store: Store, state: Hashable) -> RowTexts:
    """The row texts of ``store`` at ``state`` (a fresh, empty set when the state moved).

    A request that read its rows at an older state keeps the older set it was handed, so it
    can never add a text to the set of a newer state.
    """
    with store.lock:
        current = _TEXTS.get(store)
        if current is None or current.state != state:
            current = _TEXTS[store] = RowTexts(state)
        return current


def page_texts(
    org: OrgState,
    meta: Table,
    rows: list[Row],
    *,
    select: list[str] | None,
    annotations: AnnotationFilter | None,
    state: Hashable | None,
) -> list[str]:
    """The JSON text of each row, as ``json.dumps`` of ``render_entity`` without ``$expand``.

    ``state`` is the store state the rows were read at; ``None`` renders without the cache
    (rows handed in by a caller, read at no known state).
    """
    # Tenant-defined status reasons get their labels from the rules' status model.
    plan = entity_plan(status_model(meta, org.options), select, annotations, names_lookups=True)
    names: dict[tuple[str, str], str | None] = {}
    primary_name = org.primary_name

    def resolve(target: str, record_id: str) -> str | None:
        # A page names the same few accounts and users again and again: read each once.
        key = (target, record_id)
        try:
            return names[key]
        except KeyError:
            found = names[key] = primary_name(target, record_id)
            return found

    memo: dict[tuple[str, str, Any], str] = {}  # lookup fragments: names move, so per request
    render = plan.render_text
    if state is None:
        return [render(row, resolve, memo) for row in rows]
    cache = texts_of(org.store, state)
    kept = cache.of(plan)
    primary_key = meta.primary_key
    out: list[str] = []
    for row in rows:
        record_id = row[primary_key]
        text = kept.get(record_id)
        if text is None:
            text = render(row, resolve, memo)
            cache.keep(kept, record_id, text)
        out.append(text)
    return out
