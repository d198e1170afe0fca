"""``$expand`` rendering: related rows, references, nested expansions and the context URL.

The documented shapes differ between a single-entity retrieve and a collection query, and the
fake follows each page for its own kind of request:

* a collection query (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables):
  ``@odata.context`` ``accounts(name,primarycontactid(fullname),Account_Tasks(subject))``;
  expanded single-valued rows without ``@odata.etag``; each expanded collection carries
  ``<nav>@odata.nextLink`` and each of its rows the lookup that points back;
* a single-entity retrieve (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api):
  ``accounts(name,primarycontactid,primarycontactid(contactid,fullname))/$entity``; expanded
  rows with ``@odata.etag``; expanded collections without a nextLink or back-reference.

``<nav>/$ref`` expands to ``{"@odata.id": …}`` and brings the lookup value ``_<nav>_value``
along. An expanded user (``createdby``, ``modifiedby``, …) carries ``ownerid``: a user owns
itself, so it equals ``systemuserid`` (join-tables page).

Expanded collections read the related table once per request (:class:`RelatedIndex`), not once
per parent row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..core.values import Row, split_top_level
from ..org.schema import Table
from ..org.state import OrgState
from ..org.states import status_model
from ..wire import odata_eval
from ..wire.paging import encode_skiptoken
from ..wire.query_options import Expand, nested_context
from ..wire.serialize import AnnotationFilter, NavigationName, serialize_row

__all__ = ["RelatedIndex", "context_names", "render_expanded"]


@dataclass(frozen=True)
class _Shape:
    collection_query: bool
    root: str
    page_size: int | None


class RelatedIndex:
    """The rows of related tables grouped by the lookup that points back, built once."""

    def __init__(self, org: OrgState) -> None:
        self._org = org
        self._groups: dict[tuple[str, str, str], dict[str, list[Row]]] = {}

    def __repr__(self) -> str:
        return f"RelatedIndex({len(self._groups)} groupings)"

    def children(
        self, referenced: Table, record_id: str, referencing: Table, column: str
    ) -> list[Row]:
        """Rows of ``referencing`` whose ``column`` points to ``record_id`` of ``referenced``."""
        key = (referencing.logical_name, column, referenced.logical_name)
        groups = self._groups.get(key)
        if groups is None:
            lookup = referencing.by_name[column]
            groups = {}
            for row in self._org.store.rows(referencing.logical_name):
                value = row.get(column)
                if value is None:
                    continue
                if (
                    lookup.is_polymorphic
                    and row.get(lookup.type_attribute) != referenced.logical_name
                ):
                    continue
                groups.setdefault(str(value), []).append(row)
            self._groups[key] = groups
        return list(groups.get(record_id, ()))


def context_names(
    meta: Table, select: list[str] | None, expand: list[Expand], *, entity: bool
) -> list[str]:
    """The names in ``@odata.context`` ``<set>(…)``: selected properties, then the expansions."""
    if not entity:
        return nested_context(meta, select, expand)
    names = nested_context(meta, select, [])
    names.extend(NavigationName(item.navigation) for item in expand)
    names.extend(f"{i.navigation}({','.join(i.context)})" for i in expand if not i.ref)
    return names


def render_expanded(
    org: OrgState,
    meta: Table,
    row: Row,
    out: dict[str, Any],
    expand: list[Expand] | tuple[Expand, ...],
    *,
    annotations: AnnotationFilter | None,
    index: RelatedIndex,
    collection_query: bool,
    root: str,
    page_size: int | None = None,
) -> None:
    """Add the expanded navigation properties of ``row`` to its serialized form ``out``.

    ``page_size`` (a collection query with a nested collection ``$expand``,
    :func:`~d365leads.fake.wire.query_options.nests_collection`) pages every expanded collection.
    """
    shape = _Shape(collection_query, root, page_size)
    for item in expand:
        target_meta = status_model(org.schema.table(item.target), org.options)
        record_id = str(row[meta.primary_key])
        if item.collection:
            _render_collection(
                org, meta, record_id, target_meta, item, out, annotations, index, shape
            )
            continue
        column = meta.by_name[item.column]
        target_id = row.get(item.column)
        actual_target = row.get(column.type_attribute) if column.is_polymorphic else item.target
        found = (
            org.store.get(item.target, str(target_id))
            if target_id is not None and (actual_target or item.target) == item.target
            else None
        )
        if found is not None and item.predicate is not None and not item.predicate(found):
            found = None
        if item.ref:
            out.setdefault(column.value_property, row.get(column.name) if found else None)
            out[item.navigation] = (
                {"@odata.id": f"{root}{target_meta.entity_set}({found[target_meta.primary_key]})"}
                if found is not None
                else None
            )
            continue
        if found is None:
            out[item.navigation] = None
            continue
        rendered = _render(org, target_meta, found, item.select, item, annotations, index, shape)
        if collection_query:
            rendered.pop("@odata.etag", None)
        out[item.navigation] = rendered


def _render(
    org: OrgState,
    meta: Table,
    row: Row,
    select: list[str] | None,
    item: Expand,
    annotations: AnnotationFilter | None,
    index: RelatedIndex,
    shape: _Shape,
) -> dict[str, Any]:
    out = serialize_row(
        meta, row, select=select, annotations=annotations, resolve_name=org.primary_name
    )
    if meta.logical_name == "systemuser":
        out["ownerid"] = row[meta.primary_key]
    if item.expand:
        render_expanded(
            org,
            meta,
            row,
            out,
            item.expand,
            annotations=annotations,
            index=index,
            collection_query=shape.collection_query,
            root=shape.root,
            page_size=shape.page_size,
        )
    return out


def _render_collection(
    org: OrgState,
    meta: Table,
    record_id: str,
    target_meta: Table,
    item: Expand,
    out: dict[str, Any],
    annotations: AnnotationFilter | None,
    index: RelatedIndex,
    shape: _Shape,
) -> None:
    related = index.children(meta, record_id, target_meta, item.column)
    if item.predicate is not None:
        related = [r for r in related if item.predicate(r)]
    keys = [*item.order, (target_meta.primary_key, False)]
    related = odata_eval.sort_rows(related, keys, target_meta)
    paged = shape.collection_query and shape.page_size is not None
    # A single-level collection expand is not paged (up to 5000 related rows); with a nested
    # collection $expand each expanded collection is paged (join-tables page).
    limit = shape.page_size if shape.page_size is not None else org.options.max_page_size
    chunk = related[: item.top if item.top is not None else limit]
    select = item.select
    if shape.collection_query and not paged and select is not None and item.column not in select:
        select = [*select, item.column]  # the lookup that points back
    rendered = [
        _render(org, target_meta, r, select, item, annotations, index, shape) for r in chunk
    ]
    if paged:
        # The page's nested example shows expanded rows without ETag or back-reference.
        for entry in rendered:
            entry.pop("@odata.etag", None)
    out[item.navigation] = rendered
    if not shape.collection_query:
        return
    query = "&".join(o.strip() for o in split_top_level(item.options, ";") if o.strip())
    if paged and chunk and _more_pages(org, len(chunk), len(related), limit):
        token = encode_skiptoken(2, [(target_meta.primary_key, False)], chunk[0], chunk[-1])
        query = f"{query}&" if query else ""
        query += f"$skiptoken={quote(token, safe='')}"
    link = f"{shape.root}{meta.entity_set}({record_id})/{item.navigation}"
    out[f"{item.navigation}@odata.nextLink"] = f"{link}?{query}" if query else link


def _more_pages(org: OrgState, sent: int, total: int, page_size: int) -> bool:
    if org.options.nested_expand_next_page == "page_full":
        return sent == page_size
    return total > sent
