"""Single properties and lookups below a record.

* ``GET|PUT|DELETE /leads(<id>)/<column>`` (``{"value": …}``; lookups read as
  ``_<name>_value`` and are read-only here);
* ``GET /leads(<id>)/<navigation>`` (the related record) and ``GET|PUT|DELETE
  /leads(<id>)/<navigation>/$ref``;
* ``GET /accounts(<id>)/<collection navigation>`` (the related rows, as a collection read);
  ``/$ref``, ``/$count``, associate and disassociate in :mod:`.collection_navigation`;
  ``PUT emails(<id>)/email_activity_parties`` (replace the parties) in :mod:`.activity_parties`.
"""

from __future__ import annotations

from ..core.fault import (
    CODE_BAD_QUERY,
    FakeFault,
    bad_request,
    not_found,
    not_implemented,
    property_not_found,
)
from ..core.values import Row
from ..org.records import update_record
from ..org.schema import Table
from ..org.values import CODE_PAYLOAD, KeySpec, attributes_from_body, bind_reference, key_text
from ..wire.messages import FakeResponse, service_root
from ._common import entity_url, existing_row, json_body, related_rows
from .activity_parties import handle_replace_parties, replaces_parties
from .collection_navigation import handle_collection_navigation, split_navigation_key
from .context import RequestContext
from .crud import handle_retrieve
from .query import handle_collection

__all__ = ["handle_property"]


def handle_property(
    ctx: RequestContext, meta: Table, key: KeySpec, segments: list[str]
) -> FakeResponse:
    """``/<entityset>(<key>)/<property>[/$ref]`` reads and writes."""
    org, request = ctx.org, ctx.request
    row = existing_row(org, meta, key)
    if row is None:
        raise not_found(meta.logical_name, key_text(key))
    record_id = str(row[meta.primary_key])
    name = segments[0]
    root = service_root(request)
    nav = meta.navigation(name)
    if nav is not None:
        column, target = nav
        is_ref = segments[1:] == ["$ref"]
        if len(segments) > 1 and not is_ref:
            raise not_implemented(f"the path segment '{'/'.join(segments[1:])}' after '{name}'")
        current_target = row.get(column.type_attribute) if column.is_polymorphic else target
        points_here = row.get(column.name) is not None and current_target == target
        if request.method == "GET":
            if not points_here:
                return FakeResponse.empty(204)
            target_meta = org.schema.table(target)
            related = org.store.get(target, str(row[column.name]))
            if related is None:
                return FakeResponse.empty(204)
            if is_ref:
                return FakeResponse.json_body(
                    200,
                    {
                        "@odata.context": f"{root}$metadata#$ref",
                        "@odata.id": entity_url(
                            root, target_meta, related[target_meta.primary_key]
                        ),
                    },
                )
            return handle_retrieve(ctx, target_meta, str(related[target_meta.primary_key]))
        if not is_ref:
            raise bad_request(
                f"Use '{name}/$ref' (PUT or DELETE) or '{name}@odata.bind' in a PATCH to change "
                "a lookup.",
                CODE_BAD_QUERY,
            )
        if request.method == "DELETE":
            changes: Row = {column.name: None}
            if column.is_polymorphic:
                changes[column.type_attribute] = None
            if points_here:
                update_record(org, meta, record_id, changes)
            return FakeResponse.empty(204)
        if request.method == "PUT":
            body = json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("@odata.id"), str):
                raise bad_request(
                    'A $ref PUT needs a body {"@odata.id": "<record URL>"}.', CODE_PAYLOAD
                )
            attrs: Row = {}
            bind_reference(org, meta, name, body["@odata.id"], attrs, check=True)
            update_record(org, meta, record_id, attrs)
            return FakeResponse.empty(204)
        raise FakeFault(
            405, CODE_BAD_QUERY, f"The HTTP method '{request.method}' is not allowed here."
        )
    nav_name, related_key = split_navigation_key(name)
    relationship = org.schema.relationship(meta.logical_name, nav_name)
    if relationship is not None:
        if len(segments) > 1 or related_key is not None:
            return handle_collection_navigation(
                ctx, meta, record_id, relationship, related_key, segments[1:]
            )
        if replaces_parties(relationship, request.method):
            return handle_replace_parties(ctx, record_id, relationship)
        if request.method != "GET":
            raise FakeFault(
                405,
                CODE_BAD_QUERY,
                f"The HTTP method '{request.method}' is not allowed on '{name}'; associate "
                f"with 'POST {name}/$ref' or create the related row with its lookup set.",
            )
        target_meta = org.schema.table(relationship.referencing)
        children = related_rows(org, meta, record_id, target_meta, relationship.column)
        return handle_collection(ctx, target_meta, children)
    if len(segments) > 1:
        raise not_implemented(f"the path '{'/'.join(segments)}' below a record")
    prop_column = meta.column_for_property(name)
    if prop_column is None:
        raise property_not_found(name, meta.logical_name)
    prop = prop_column.value_property
    if request.method == "GET":
        value = row.get(prop_column.name)
        if value is None:
            return FakeResponse.empty(204)
        return FakeResponse.json_body(
            200,
            {
                "@odata.context": f"{root}$metadata#{meta.entity_set}({record_id})/{prop}",
                "value": value,
            },
        )
    if prop_column.is_lookup:
        raise bad_request(
            f"'{prop}' is read-only; change the lookup through its navigation property.",
            CODE_PAYLOAD,
        )
    if request.method == "PUT":
        body = json_body(request)
        if not isinstance(body, dict) or "value" not in body:
            raise bad_request('A property PUT needs a body {"value": …}.', CODE_PAYLOAD)
        attrs = attributes_from_body(org, meta, {prop_column.name: body["value"]})
        update_record(org, meta, record_id, attrs)
        return FakeResponse.empty(204)
    if request.method == "DELETE":
        attrs = attributes_from_body(org, meta, {prop_column.name: None})
        update_record(org, meta, record_id, attrs)
        return FakeResponse.empty(204)
    raise FakeFault(405, CODE_BAD_QUERY, f"The HTTP method '{request.method}' is not allowed here.")
