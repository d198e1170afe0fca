"""References through a collection-valued navigation property below a record.

* ``GET accounts(<id>)/contact_customer_accounts/$ref``: the related rows as ``@odata.id``
  references (``$metadata#Collection($ref)``);
* ``GET accounts(<id>)/contact_customer_accounts/$count``: how many rows point here;
* ``POST accounts(<id>)/opportunity_customer_accounts/$ref`` with ``{"@odata.id": …}``:
  associate (the related row's lookup is set to this record);
* ``DELETE accounts(<id>)/opportunity_customer_accounts(<id>)/$ref`` and
  ``DELETE accounts(<id>)/opportunity_customer_accounts/$ref?$id=<url>``: disassociate (the
  related row's lookup is cleared).

A one-to-many relationship is stored as the lookup on the referencing row, so associating
and disassociating update that row through the rules (``records.update_record``).
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api
"""

from __future__ import annotations

from ..core.fault import CODE_BAD_QUERY, FakeFault, bad_request, not_found, not_implemented
from ..core.values import Row
from ..org.records import update_record
from ..org.schema import Relationship, Table
from ..org.values import CODE_PAYLOAD, KeySpec, key_text, parse_key, parse_reference, resolve_key
from ..wire.messages import FakeResponse, service_root
from ..wire.query_options import check_options
from ._common import entity_url, json_body, related_rows
from .context import RequestContext
from .crud import handle_retrieve

__all__ = ["handle_collection_navigation", "split_navigation_key"]

# The navigation $count is answered with a UTF-8 byte order mark, as the "Retrieve a table row"
# page prints it (its "Count rows" page shows the entity-set $count without one).
_BOM = "\ufeff"


def split_navigation_key(segment: str) -> tuple[str, str | None]:
    """``nav(<key>)`` -> (``nav``, ``<key>``); a plain ``nav`` -> (``nav``, ``None``)."""
    name, paren, rest = segment.partition("(")
    if not paren:
        return segment, None
    if not rest.endswith(")") or len(rest) < 2:
        raise bad_request(f"Bad key segment '{segment}': missing ')'.", CODE_BAD_QUERY)
    return name, rest[:-1]


def _points_here(
    row: Row, relationship: Relationship, type_attribute: str | None, here: str
) -> bool:
    if row.get(relationship.column) != here:
        return False
    return type_attribute is None or row.get(type_attribute) == relationship.referenced


def _related_id(ctx: RequestContext, related: Table, key: KeySpec) -> str:
    record_id = resolve_key(ctx.org, related, key)
    if record_id is None:
        raise not_found(related.logical_name, key_text(key))
    return record_id


def _reference_id(ctx: RequestContext, related: Table, nav: str, text: object) -> str:
    """The id of the record ``text`` (an ``@odata.id``) names; it must be a ``related`` row."""
    if not isinstance(text, str) or not text:
        raise bad_request(
            f"Associating through '{nav}' needs a body {{\"@odata.id\": "
            f'"/{related.entity_set}(<id>)"}}.',
            CODE_PAYLOAD,
        )
    meta, key = parse_reference(ctx.org, text)
    if meta.logical_name != related.logical_name:
        raise bad_request(
            f"'{text}' is a '{meta.logical_name}' record, but '{nav}' holds "
            f"'{related.logical_name}' records ('/{related.entity_set}(<id>)').",
            CODE_PAYLOAD,
        )
    return _related_id(ctx, related, key)


def handle_collection_navigation(
    ctx: RequestContext,
    meta: Table,
    record_id: str,
    relationship: Relationship,
    related_key: str | None,
    rest: list[str],
) -> FakeResponse:
    """``<set>(<id>)/<collection nav>[(<key>)]/$ref|$count`` (``rest``: segments after it)."""
    org, request = ctx.org, ctx.request
    nav = relationship.name
    related = org.schema.table(relationship.referencing)
    lookup = related.by_name[relationship.column]
    polymorphic = lookup.is_polymorphic or lookup.type == "owner"
    type_attribute = lookup.type_attribute if polymorphic else None
    method = request.method
    if rest == ["$count"] and related_key is None:
        if method != "GET":
            raise _not_allowed(method)
        check_options(request, set())
        total = len(related_rows(org, meta, record_id, related, relationship.column))
        return FakeResponse(
            200,
            {"Content-Type": "text/plain", "OData-Version": "4.0"},
            f"{_BOM}{min(total, org.options.max_count)}".encode(),
        )
    if rest == [] and related_key is not None:
        if method != "GET":
            raise _not_allowed(method)
        child_id = _related_id(ctx, related, parse_key(related_key))
        child = org.store.get(related.logical_name, child_id)
        if child is None or not _points_here(child, relationship, type_attribute, record_id):
            raise not_found(related.logical_name, child_id)
        return handle_retrieve(ctx, related, child_id)
    if rest != ["$ref"]:
        raise not_implemented(f"the path segment '{'/'.join(rest)}' after '{nav}'")
    root = service_root(request)
    if method == "GET" and related_key is None:
        check_options(request, set())
        rows = related_rows(org, meta, record_id, related, relationship.column)
        rows.sort(key=lambda r: str(r[related.primary_key]))
        return FakeResponse.json_body(
            200,
            {
                "@odata.context": f"{root}$metadata#Collection($ref)",
                "value": [
                    {"@odata.id": entity_url(root, related, str(r[related.primary_key]))}
                    for r in rows
                ],
            },
        )
    if method == "POST" and related_key is None:
        check_options(request, set())
        body = json_body(request)
        text = body.get("@odata.id") if isinstance(body, dict) else None
        child_id = _reference_id(ctx, related, nav, text)
        changes: Row = {relationship.column: record_id}
        if polymorphic:
            changes[lookup.type_attribute] = meta.logical_name
        update_record(org, related, child_id, changes)
        return FakeResponse.empty(204)
    if method == "DELETE":
        id_option = request.query_value("$id")
        check_options(request, {"$id"})
        if related_key is not None:
            if id_option is not None:
                raise bad_request(
                    f"Name the related row either in the path ('{nav}(<id>)/$ref') or with "
                    "$id, not both.",
                    CODE_BAD_QUERY,
                )
            child_id = _related_id(ctx, related, parse_key(related_key))
        elif id_option is None:
            raise bad_request(
                f"Disassociating through '{nav}' needs the related row: "
                f"'{nav}(<id>)/$ref' or '{nav}/$ref?$id=<record URL>'.",
                CODE_BAD_QUERY,
            )
        else:
            child_id = _reference_id(ctx, related, nav, id_option)
        child = org.store.get(related.logical_name, child_id)
        if child is not None and _points_here(child, relationship, type_attribute, record_id):
            changes = {relationship.column: None}
            if polymorphic:
                changes[lookup.type_attribute] = None
            update_record(org, related, child_id, changes)
        return FakeResponse.empty(204)
    raise _not_allowed(method)


def _not_allowed(method: str) -> FakeFault:
    return FakeFault(405, CODE_BAD_QUERY, f"The HTTP method '{method}' is not allowed here.")
