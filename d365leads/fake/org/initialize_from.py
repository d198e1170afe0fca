"""InitializeFrom over the store: the values a new row would take from an existing one.

``InitializeFrom`` creates nothing; it answers the target table's mapped column values and the
reference to the source row, for the client to ``POST`` (create-entity page, "Create a new
table row from another table"). The columns come from the org's ``attributemap`` rows
(:mod:`.entity_maps`), so tenant mappings seeded there count.

``TargetFieldType`` (``All`` 0, ``ValidForCreate`` 1, ``ValidForUpdate`` 2, ``ValidForRead``
3) drops the target columns that are not valid for that use; the fake's only such flag is
``Column.readonly`` (not valid for create or update).
"""

from __future__ import annotations

from typing import Any

from ..core.fault import CODE_INVALID_ARGUMENT, bad_request, not_found
from .entity_maps import attribute_pairs
from .schema import Table
from .state import OrgState

__all__ = ["FIELD_TYPES", "initialize_from"]

FIELD_TYPES: dict[str, int] = {
    "All": 0,
    "ValidForCreate": 1,
    "ValidForUpdate": 2,
    "ValidForRead": 3,
}
"""``Microsoft.Dynamics.CRM.TargetFieldType`` members and their values."""


def _lookup_target(source: Table, row: dict[str, Any], column_name: str) -> str | None:
    """The table a mapped source value points to: the source itself for its primary key."""
    if column_name == source.primary_key:
        return source.logical_name
    column = source.column(column_name)
    if column is None or not column.is_lookup:
        return None
    if column.is_polymorphic:
        kind = row.get(column.type_attribute)
        return str(kind) if kind else None
    return column.targets[0]


def initialize_from(
    org: OrgState, source: Table, source_id: str, target: Table, field_type: str
) -> dict[str, Any]:
    """The body InitializeFrom answers (without ``@odata.context``/``@odata.type``):
    ``<nav>@odata.bind`` for mapped lookups, then the mapped values, in the map's order.

    400 when the org has no mapping between the tables; 404 when the source row does not exist.
    """
    pairs = attribute_pairs(org.store, source.logical_name, target.logical_name)
    if pairs is None:
        raise bad_request(
            f"No mapping exists from '{source.logical_name}' to '{target.logical_name}'; the "
            "mappings are listed by GET entitymaps?$select=sourceentityname,targetentityname.",
            CODE_INVALID_ARGUMENT,
        )
    row = org.store.get(source.logical_name, source_id)
    if row is None:
        raise not_found(source.logical_name, source_id)
    binds: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for source_name, target_name in pairs:
        column = target.column(target_name)
        writing = field_type in ("ValidForCreate", "ValidForUpdate")
        if column is None or (column.readonly and writing):
            continue
        value = row.get(source_name)
        if value is None and source_name == "transactioncurrencyid":
            # Dataverse gives every row of a table with money columns a currency on create;
            # the fake only does when a money value is set, so an unset one reads as the base.
            value = org.base_currency_id
        if value is None:
            continue
        if not column.is_lookup:
            values[target_name] = value
            continue
        pointed = _lookup_target(source, row, source_name)
        if pointed is None or pointed not in column.navigation:
            continue
        entity_set = org.schema.table(pointed).entity_set
        binds[f"{column.navigation[pointed]}@odata.bind"] = f"{entity_set}({value})"
    return {**binds, **values}
