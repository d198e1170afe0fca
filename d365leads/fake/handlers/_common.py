"""Helpers the handlers share: JSON bodies, record URLs and look-ups, entity rendering.

Handlers import these instead of each other's internals.  Rendering joins the org (the rows an
``$expand`` reaches, the status reasons of the tenant, lookup names) with the wire's row
serializer.
"""

from __future__ import annotations

from typing import Any

from ..core.fault import bad_request
from ..core.values import Row
from ..org.schema import Table
from ..org.state import OrgState
from ..org.states import status_model
from ..org.values import CODE_PAYLOAD, KeySpec, resolve_key
from ..wire.json_reader import JsonReaderError
from ..wire.messages import FakeRequest
from ..wire.query_options import Expand
from ..wire.serialize import AnnotationFilter, serialize_row
from .expansion import RelatedIndex, render_expanded

__all__ = [
    "entity_url",
    "existing_row",
    "json_body",
    "related_rows",
    "render_entity",
]


def entity_url(root: str, meta: Table, record_id: str) -> str:
    """The canonical URL of a record (``…/leads(<id>)``)."""
    return f"{root}{meta.entity_set}({record_id})"


def json_body(request: FakeRequest) -> Any:
    """The request body as JSON (400 ``0x80048d19`` when it is not JSON)."""
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        why = f" ({exc})" if isinstance(exc, JsonReaderError) else ""
        raise bad_request(
            f"The request body is not valid JSON{why}. Send a JSON object with "
            "Content-Type: application/json.",
            CODE_PAYLOAD,
        ) from None


def existing_row(org: OrgState, meta: Table, key: KeySpec) -> Row | None:
    """A copy of the row ``key`` names (GUID or alternate key), or ``None``."""
    if isinstance(key, str):  # a GUID: one look-up, not an existence check and then a read
        return org.store.get(meta.logical_name, key)
    record_id = resolve_key(org, meta, key)
    return org.store.get(meta.logical_name, record_id) if record_id else None


def related_rows(
    org: OrgState, referenced: Table, record_id: str, referencing: Table, column: str
) -> list[Row]:
    """Rows of ``referencing`` whose lookup ``column`` points to ``record_id``."""
    lookup = referencing.by_name[column]

    def points_here(row: Row) -> bool:
        if row.get(column) != record_id:
            return False
        if lookup.is_polymorphic:
            return row.get(lookup.type_attribute) == referenced.logical_name
        return True

    return org.store.find(referencing.logical_name, points_here)


def render_entity(
    org: OrgState,
    meta: Table,
    row: Row,
    *,
    select: list[str] | None,
    expand: list[Expand],
    annotations: AnnotationFilter | None,
    index: RelatedIndex | None = None,
    collection_query: bool = False,
    root: str = "",
    page_size: int | None = None,
) -> dict[str, Any]:
    """A row as JSON with its expanded navigation properties (:mod:`.expansion`).

    ``index`` (one per request) lets the rows of a collection query share one read of each
    related table; ``collection_query`` picks the collection shape of the expansions;
    ``page_size`` pages the expanded collections (a nested collection ``$expand``).
    """
    # Tenant-defined status reasons get their labels from the rules' status model.
    meta = status_model(meta, org.options)
    out = serialize_row(
        meta, row, select=select, annotations=annotations, resolve_name=org.primary_name
    )
    render_expanded(
        org,
        meta,
        row,
        out,
        expand,
        annotations=annotations,
        index=index if index is not None else RelatedIndex(org),
        collection_query=collection_query,
        root=root,
        page_size=page_size,
    )
    return out
