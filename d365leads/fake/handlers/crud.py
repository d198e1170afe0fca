"""Create, retrieve, update, upsert and delete of single records on the wire.

Wire behaviour (``dataverse-web-api.md`` §4.5-4.7):

* ``POST /leads`` -> ``204`` + ``OData-EntityId``; with ``Prefer: return=representation``
  ``201`` + the row (``$select``/``$expand`` honoured);
* ``GET /leads(<id>)`` with ``$select``/``$expand``; ``If-None-Match: W/"v"`` -> ``304`` when
  unchanged (never with ``$expand`` or annotations);
* ``PATCH /leads(<key>)``: update, or upsert when the row is missing; ``If-Match: *`` = update
  only (404), ``If-Match: W/"v"`` = optimistic concurrency (412 ``0x80060882``),
  ``If-None-Match: *`` = create only (``0x80040237``);
* ``DELETE /leads(<key>)`` (with optional ``If-Match``).

Bodies become attributes in :mod:`~d365leads.fake.org.values`; the writes run the business
rules in :mod:`~d365leads.fake.org.records`.  Single properties and lookups below a record are
:mod:`~d365leads.fake.handlers.properties`.
"""

from __future__ import annotations

from typing import Any

from ..core.fault import FakeFault, bad_request, concurrency_mismatch, duplicate_key, not_found
from ..core.options import FakeOptions
from ..core.values import Row
from ..org.activity_parties import delete_with_parties
from ..org.deep_insert import create_deep, is_deep
from ..org.plugins import write_with_steps
from ..org.records import create_record, update_record
from ..org.schema import Table
from ..org.state import OrgState
from ..org.values import CODE_PAYLOAD, KeySpec, attributes_from_body, coerce_value, key_text
from ..wire.messages import FakeRequest, FakeResponse, service_root
from ..wire.query_options import Expand, entity_options
from ..wire.serialize import annotation_filter, context_url, etag
from ._common import entity_url, existing_row, json_body, render_entity
from .context import RequestContext
from .expansion import context_names
from .query import query_env

__all__ = ["handle_create", "handle_delete", "handle_patch", "handle_retrieve"]


def _entity_body(
    org: OrgState,
    root: str,
    meta: Table,
    row: Row,
    select: list[str] | None,
    expand: list[Expand],
    annotations: str | None,
    *,
    representation: bool = False,
) -> dict[str, Any]:
    """One record as a single-entity body (``annotations``: the include-annotations value).

    A ``return=representation`` body lists expansions in ``@odata.context`` as ``nav(…)``
    only, as the create page prints it; a retrieve also names each navigation on its own.
    Without expansions, a representation's context names the entity set only (create-entity
    doc: ``$metadata#accounts/$entity``), whatever ``$select`` it was asked for with (a switch:
    the upsert page shows the selected columns).
    """
    bare = representation and not expand and org.options.representation_context == "entity_set"
    names = None if bare else context_names(meta, select, expand, entity=not representation)
    body = {"@odata.context": context_url(root, meta, names, entity=True)}
    wanted = annotation_filter(annotations)
    body.update(
        render_entity(org, meta, row, select=select, expand=expand, annotations=wanted, root=root)
    )
    return body


def _representation(
    org: OrgState, request: FakeRequest, meta: Table, row: Row, status: int
) -> FakeResponse:
    select, expand = entity_options(
        request, meta, org.options.max_expand, schema=org.schema, env=query_env(org)
    )
    value = request.prefer().get("odata.include-annotations")
    root = service_root(request)
    body = _entity_body(org, root, meta, row, select, expand, value, representation=True)
    applied = ["return=representation"]
    if value is not None:
        applied.append(f'odata.include-annotations="{value}"')
    headers = {"Preference-Applied": ",".join(applied), "ETag": etag(row)}
    if status == 201:
        headers["Location"] = entity_url(root, meta, row[meta.primary_key])
    return FakeResponse.json_body(status, body, headers)


def _wants_duplicate_detection(request: FakeRequest) -> bool:
    # Off by default on create and update; "MSCRM.SuppressDuplicateDetection: false" turns it
    # on (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/manage-duplicate-detection-create-update).
    value = request.header("MSCRM.SuppressDuplicateDetection")
    return value is not None and value.strip().lower() == "false"


def _wants_representation(request: FakeRequest) -> bool:
    return request.prefer().get("return") == "representation"


def _entity_id_response(
    request: FakeRequest,
    meta: Table,
    row: Row,
    status: int = 204,
    key: KeySpec | None = None,
    options: FakeOptions | None = None,
) -> FakeResponse:
    url = entity_url(service_root(request), meta, row[meta.primary_key])
    if (
        key is not None
        and not isinstance(key, str)
        and options is not None
        and options.alternate_key_entity_id == "key"
    ):
        # Addressed by alternate key: the answer names the record the same way, as the upsert
        # page shows (https://learn.microsoft.com/power-apps/developer/data-platform/use-upsert-insert-update-record).
        segment = request.path.split("/", 1)[0]
        if segment.startswith(f"{meta.entity_set}("):
            url = f"{service_root(request)}{segment}"
    return FakeResponse.empty(status, {"OData-EntityId": url})


def handle_create(ctx: RequestContext, meta: Table) -> FakeResponse:
    """``POST /<entityset>``."""
    org, request = ctx.org, ctx.request
    payload = json_body(request)
    if is_deep(org, meta, payload):
        row = create_deep(org, meta, payload, duplicate_check=_wants_duplicate_detection(request))
    else:
        attrs = attributes_from_body(org, meta, payload)
        if attrs.get(meta.primary_key) is None:
            attrs.pop(meta.primary_key, None)
        row = create_record(org, meta, attrs, duplicate_check=_wants_duplicate_detection(request))
    if _wants_representation(request):
        return _representation(org, request, meta, row, 201)
    return _entity_id_response(request, meta, row)


def handle_retrieve(ctx: RequestContext, meta: Table, key: KeySpec) -> FakeResponse:
    """``GET /<entityset>(<key>)``."""
    org, request = ctx.org, ctx.request
    select, expand = entity_options(
        request, meta, org.options.max_expand, schema=org.schema, env=query_env(org)
    )
    row = existing_row(org, meta, key)
    if row is None:
        raise not_found(meta.logical_name, key_text(key))
    value = request.prefer().get("odata.include-annotations")
    if_none_match = request.header("If-None-Match")
    if (
        if_none_match
        and if_none_match != "null"
        and not expand
        and value is None
        and if_none_match == etag(row)
    ):
        return FakeResponse.empty(304, {"ETag": etag(row)})
    body = _entity_body(org, service_root(request), meta, row, select, expand, value)
    headers = {"ETag": etag(row)}
    if value is not None:
        headers["Preference-Applied"] = f'odata.include-annotations="{value}"'
    return FakeResponse.json_body(200, body, headers)


def _conditional(org: OrgState, fault: FakeFault, meta: Table, key: KeySpec) -> FakeFault:
    """A failed condition's fault in the shape ``FakeOptions.conditional_errors`` names."""
    if org.options.conditional_errors == "error_reference":
        return fault
    # perform-conditional-operations page: empty code; the 404 names the table bare.
    message = fault.message
    if fault.status == 404:
        message = f"{meta.logical_name} With Id = {key_text(key)} Does Not Exist"
    return FakeFault(fault.status, "", message)


def _check_if_match(
    org: OrgState, request: FakeRequest, meta: Table, row: Row | None, key: KeySpec
) -> None:
    if_match = request.header("If-Match")
    if if_match is None:
        return
    if row is None:
        raise _conditional(org, not_found(meta.logical_name, key_text(key)), meta, key)
    if if_match.strip() == "*":
        return
    tags = [t.strip() for t in if_match.split(",")]
    if etag(row) not in tags:
        raise _conditional(org, concurrency_mismatch(), meta, key)


def handle_patch(ctx: RequestContext, meta: Table, key: KeySpec) -> FakeResponse:
    """``PATCH /<entityset>(<key>)``: update or upsert (see the module docstring)."""
    org, request = ctx.org, ctx.request
    payload = json_body(request)
    with org.store.lock:
        row = existing_row(org, meta, key)
        _check_if_match(org, request, meta, row, key)
        if_none_match = request.header("If-None-Match")
        if row is not None and if_none_match is not None and if_none_match.strip() == "*":
            raise _conditional(org, duplicate_key(org.options.duplicate_key_status), meta, key)
        attrs = attributes_from_body(org, meta, payload)
        if row is not None:
            record_id = str(row[meta.primary_key])
            body_id = attrs.get(meta.primary_key)
            if body_id is not None and body_id != record_id:
                raise bad_request(
                    f"The body's {meta.primary_key} ({body_id}) differs from the URL key "
                    f"({record_id}).",
                    CODE_PAYLOAD,
                )
            updated = update_record(
                org, meta, record_id, attrs, duplicate_check=_wants_duplicate_detection(request)
            )
            if _wants_representation(request):
                return _representation(org, request, meta, updated, 200)
            return _entity_id_response(request, meta, updated, key=key, options=org.options)
        # Upsert: create the row with the key from the URL.
        if isinstance(key, str):
            attrs[meta.primary_key] = key
        else:
            for name, value in key.items():
                column = meta.column(name)
                if column is not None:
                    attrs[name] = coerce_value(meta, column, value)
        created = create_record(
            org, meta, attrs, duplicate_check=_wants_duplicate_detection(request)
        )
    if _wants_representation(request):
        return _representation(org, request, meta, created, 201)
    return _entity_id_response(
        request, meta, created, org.options.upsert_create_status, key, org.options
    )


def handle_delete(ctx: RequestContext, meta: Table, key: KeySpec) -> FakeResponse:
    """``DELETE /<entityset>(<key>)``."""
    org, request = ctx.org, ctx.request
    with org.store.lock:
        row = existing_row(org, meta, key)
        if row is None:
            raise not_found(meta.logical_name, key_text(key))
        _check_if_match(org, request, meta, row, key)
        record_id = str(row[meta.primary_key])
        write_with_steps(
            org, "Delete", meta, row, lambda: delete_with_parties(org, meta, record_id)
        )
    return FakeResponse.empty(204)
