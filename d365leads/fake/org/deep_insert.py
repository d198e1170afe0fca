"""Deep insert: create a record together with related records in one request.

A create body may carry, besides columns and ``<nav>@odata.bind``:

* a single-valued navigation property set to an object (``"primarycontactid": {…}``): that
  record is created first and the new record's lookup points to it;
* a collection-valued navigation property set to an array of objects
  (``"opportunity_customer_accounts": [{…}]``): those records are created after it, with their
  lookup pointing back (nested deeper in turn);
* ``<collection nav>@odata.bind`` set to an array of record URLs: those existing records are
  associated (their lookup is set to the new record).

Everything runs in one store transaction: any failure leaves the store as it was.
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api
"""

from __future__ import annotations

from typing import Any

from ..core.fault import bad_request, not_found
from ..core.values import Row
from .records import create_record, update_record
from .schema import Relationship, Table
from .state import OrgState
from .values import CODE_PAYLOAD, attributes_from_body, key_text, parse_reference, resolve_key

__all__ = ["create_deep", "is_deep"]

_BIND = "@odata.bind"


def is_deep(org: OrgState, meta: Table, payload: Any) -> bool:
    """Whether a create body nests related records or binds a collection."""
    if not isinstance(payload, dict):
        return False
    for key, value in payload.items():
        if not isinstance(key, str):
            continue
        if key.endswith(_BIND) and isinstance(value, list):
            return True
        if isinstance(value, dict) and meta.navigation(key) is not None:
            return True
        if isinstance(value, list) and org.schema.relationship(meta.logical_name, key):
            return True
    return False


def create_deep(org: OrgState, meta: Table, payload: Any, *, duplicate_check: bool = False) -> Row:
    """Create ``payload`` with its nested records (all or nothing); returns the top row."""
    with org.store.transaction():
        return _create(org, meta, payload, {}, duplicate_check)


def _relationship(org: OrgState, meta: Table, nav: str) -> Relationship:
    relationship = org.schema.relationship(meta.logical_name, nav)
    if relationship is None:
        raise bad_request(
            f"'{nav}' is not a collection-valued navigation property of '{meta.logical_name}'.",
            CODE_PAYLOAD,
        )
    return relationship


def _pointing_back(org: OrgState, relationship: Relationship, parent: Table, parent_id: str) -> Row:
    related = org.schema.table(relationship.referencing)
    lookup = related.by_name[relationship.column]
    attrs: Row = {relationship.column: parent_id}
    if lookup.is_polymorphic or lookup.type == "owner":
        attrs[lookup.type_attribute] = parent.logical_name
    return attrs


def _create(org: OrgState, meta: Table, payload: Any, extra: Row, duplicate_check: bool) -> Row:
    if not isinstance(payload, dict):
        raise bad_request(
            f"A nested '{meta.logical_name}' record must be a JSON object of column values.",
            CODE_PAYLOAD,
        )
    flat: dict[str, Any] = {}
    singles: list[tuple[str, Any]] = []
    nested: list[tuple[Relationship, list[Any]]] = []
    binds: list[tuple[Relationship, list[Any]]] = []
    for key, value in payload.items():
        if isinstance(key, str) and key.endswith(_BIND) and isinstance(value, list):
            binds.append((_relationship(org, meta, key[: -len(_BIND)]), value))
        elif isinstance(value, dict) and meta.navigation(key) is not None:
            singles.append((key, value))
        elif isinstance(value, list) and org.schema.relationship(meta.logical_name, key):
            nested.append((_relationship(org, meta, key), value))
        else:
            flat[key] = value
    attrs = attributes_from_body(org, meta, flat)
    for nav, body in singles:
        resolved = meta.navigation(nav)
        assert resolved is not None  # checked above
        column, target = resolved
        target_meta = org.schema.table(target)
        child = _create(org, target_meta, body, {}, duplicate_check)
        attrs[column.name] = str(child[target_meta.primary_key])
        if column.is_polymorphic or column.type == "owner":
            attrs[column.type_attribute] = target
    attrs.update(extra)
    if attrs.get(meta.primary_key) is None:
        attrs.pop(meta.primary_key, None)
    row = create_record(org, meta, attrs, duplicate_check=duplicate_check)
    row_id = str(row[meta.primary_key])
    for relationship, items in nested:
        related = org.schema.table(relationship.referencing)
        back = _pointing_back(org, relationship, meta, row_id)
        for item in items:
            _create(org, related, item, back, duplicate_check)
    for relationship, references in binds:
        related = org.schema.table(relationship.referencing)
        back = _pointing_back(org, relationship, meta, row_id)
        for reference in references:
            if not isinstance(reference, str):
                raise bad_request(
                    f"'{relationship.name}@odata.bind' must be an array of record URLs like "
                    f"'/{related.entity_set}(<id>)'.",
                    CODE_PAYLOAD,
                )
            target_meta, key = parse_reference(org, reference)
            if target_meta.logical_name != related.logical_name:
                raise bad_request(
                    f"'{reference}' is a '{target_meta.logical_name}' record, but "
                    f"'{relationship.name}' holds '{related.logical_name}' records.",
                    CODE_PAYLOAD,
                )
            child_id = resolve_key(org, related, key)
            if child_id is None:
                raise not_found(related.logical_name, key_text(key))
            update_record(org, related, child_id, dict(back))
    return org.store.get(meta.logical_name, row_id) or row
