"""Attribute (column) definitions of a table: ``GET EntityDefinitions(LogicalName='t')/Attributes``.

Dataverse serves the columns of a table as ``AttributeMetadata`` entities (one derived type per
column type, named by ``@odata.type``); clients read ``LogicalName``, ``AttributeType`` (the
``AttributeTypeCode`` enum as a string: ``String``, ``Integer``, ``Money``, ``Lookup``, ...),
``IsValidForCreate`` and ``IsValidForUpdate`` to learn which columns of a customised org can be
written (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api).

Served from the fake's :class:`~d365leads.fake.org.tenant.TenantSchema`, so the tenant columns of
this fake (``fake.add_column``) are included.  Forms:

* ``…/Attributes`` -> ``{"@odata.context": …, "value": [attribute, …]}``;
* ``…/Attributes(LogicalName='x')`` -> one attribute (``@odata.context`` ends ``/$entity``).

``$select`` keeps the named properties of the base type ``AttributeMetadata`` (plus
``@odata.type`` and ``MetadataId``, which Dataverse always returns); an unknown name -> 400.
``$filter`` as in :mod:`~d365leads.fake.wire.metadata_query`.  Other query options -> 501.
Unknown table or attribute -> 404 ``0x80040217``.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.fault import (
    CODE_BAD_QUERY,
    CODE_NOT_FOUND,
    FakeFault,
    method_not_allowed,
    not_implemented,
)
from ..org.entity_metadata import metadata_id
from ..org.schema import Column, Table
from ..org.tables import TABLES
from ..org.tenant import TenantSchema
from ..wire.messages import FakeRequest, FakeResponse, service_root
from ..wire.metadata_query import compile_metadata_filter
from .context import RequestContext

__all__ = [
    "ATTRIBUTE_TYPES",
    "attribute_definition",
    "check_column_definitions_served",
    "handle_attribute_definitions",
    "handle_attributes",
    "is_attributes_path",
]

_PATH_RE = re.compile(
    r"^EntityDefinitions\(LogicalName='(?P<entity>[^']*)'\)/Attributes"
    r"(?:\(LogicalName='(?P<attribute>[^']*)'\))?$"
)

ATTRIBUTE_TYPES: dict[str, tuple[str, str]] = {
    "string": ("String", "StringAttributeMetadata"),
    "memo": ("Memo", "MemoAttributeMetadata"),
    "int": ("Integer", "IntegerAttributeMetadata"),
    "bigint": ("BigInt", "BigIntAttributeMetadata"),
    "decimal": ("Decimal", "DecimalAttributeMetadata"),
    "money": ("Money", "MoneyAttributeMetadata"),
    "bool": ("Boolean", "BooleanAttributeMetadata"),
    "datetime": ("DateTime", "DateTimeAttributeMetadata"),
    "date": ("DateTime", "DateTimeAttributeMetadata"),
    "guid": ("Uniqueidentifier", "UniqueIdentifierAttributeMetadata"),
    "picklist": ("Picklist", "PicklistAttributeMetadata"),
    "state": ("State", "StateAttributeMetadata"),
    "status": ("Status", "StatusAttributeMetadata"),
    "lookup": ("Lookup", "LookupAttributeMetadata"),
    "customer": ("Customer", "LookupAttributeMetadata"),
    "owner": ("Owner", "LookupAttributeMetadata"),
}
"""Fake column type -> (``AttributeType`` code, derived metadata type)."""

# Properties of the base type AttributeMetadata the fake fills (what $select may name).
_BASE_PROPERTIES = frozenset(
    {
        "MetadataId",
        "LogicalName",
        "SchemaName",
        "EntityLogicalName",
        "AttributeType",
        "AttributeTypeName",
        "AttributeOf",
        "IsCustomAttribute",
        "IsPrimaryId",
        "IsPrimaryName",
        "IsValidForCreate",
        "IsValidForUpdate",
        "IsValidForRead",
        "ColumnNumber",
        "DisplayName",
    }
)


def is_attributes_path(path: str) -> bool:
    """True when ``path`` addresses a table's ``Attributes`` (collection or one, no cast)."""
    return _PATH_RE.match(path) is not None


def _schema_name(name: str) -> str:
    prefix, sep, rest = name.partition("_")
    if sep and rest:
        return f"{prefix}_{rest[:1].upper()}{rest[1:]}"
    return name[:1].upper() + name[1:]


def attribute_definition(
    meta: Table, column: Column, number: int, *, custom: bool = False
) -> dict[str, Any]:
    """The full ``AttributeMetadata`` JSON of ``column`` (the ``number``-th column of ``meta``);
    ``custom`` marks a tenant column."""
    code, derived = ATTRIBUTE_TYPES[column.type]
    primary = column.name == meta.primary_key
    label = {
        "LocalizedLabels": [{"Label": column.label, "LanguageCode": 1033}],
        "UserLocalizedLabel": {"Label": column.label, "LanguageCode": 1033},
    }
    body: dict[str, Any] = {
        "@odata.type": f"#Microsoft.Dynamics.CRM.{derived}",
        "MetadataId": metadata_id(meta.logical_name, column.name),
        "LogicalName": column.name,
        "SchemaName": _schema_name(column.name),
        "EntityLogicalName": meta.logical_name,
        "AttributeType": code,
        "AttributeTypeName": {"Value": f"{code}Type"},
        "AttributeOf": None,
        "IsCustomAttribute": custom,
        "IsPrimaryId": primary,
        "IsPrimaryName": column.name == meta.primary_name,
        # The platform sets statecode on create from the default; the primary key may be
        # given on create only; system/computed columns are never written by callers.
        "IsValidForCreate": not column.readonly and column.type != "state",
        "IsValidForUpdate": not column.readonly and not primary,
        "IsValidForRead": True,
        "ColumnNumber": number,
        "DisplayName": label,
    }
    if column.max_length is not None:
        body["MaxLength"] = column.max_length
    if column.type in ("datetime", "date"):
        body["Format"] = "DateOnly" if column.type == "date" else "DateAndTime"
    if column.is_lookup:
        body["Targets"] = list(column.targets)
    return body


def _select(body: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    keep = {"@odata.type", "MetadataId", *wanted}
    return {k: v for k, v in body.items() if k in keep}


def handle_attributes(request: FakeRequest, schema: TenantSchema) -> FakeResponse:
    """Answer ``GET EntityDefinitions(LogicalName='<t>')/Attributes[(LogicalName='<a>')]``."""
    if request.method != "GET":
        raise method_not_allowed(request.method, request.path, "the fake's metadata is read-only")
    match = _PATH_RE.match(request.path)
    assert match is not None  # the router checked is_attributes_path
    entity, attribute = match.group("entity", "attribute")
    for name, _value in request.query:
        if name not in ("$select", "$filter"):
            raise not_implemented(f"the query option {name} on attribute metadata")
    try:
        meta = schema.table(entity)
    except KeyError:
        raise FakeFault(
            404, CODE_NOT_FOUND, f"Could not find an entity with logical name '{entity}'."
        ) from None
    select = request.query_value("$select")
    wanted = [s.strip() for s in (select or "").split(",") if s.strip()]
    for name in wanted:
        if name not in _BASE_PROPERTIES:
            raise FakeFault(
                400,
                CODE_BAD_QUERY,
                f"Could not find a property named '{name}' on type "
                "'Microsoft.Dynamics.CRM.AttributeMetadata'.",
            )
    builtin = TABLES[meta.logical_name]
    rows = [
        attribute_definition(meta, c, n, custom=builtin.column(c.name) is None)
        for n, c in enumerate(meta.columns, start=1)
    ]
    columns = list(meta.columns)
    filter_text = request.query_value("$filter")
    if filter_text is not None:
        properties = _BASE_PROPERTIES | {k for r in rows for k in r}
        predicate = compile_metadata_filter(filter_text, properties, "AttributeMetadata")
        kept = [(r, c) for r, c in zip(rows, columns, strict=True) if predicate(r)]
        rows, columns = [r for r, _ in kept], [c for _, c in kept]
    if wanted:
        rows = [_select(r, wanted) for r in rows]
    base = service_root(request)
    context = f"{base}$metadata#EntityDefinitions('{entity}')/Attributes"
    if wanted:
        context += f"({','.join(wanted)})"
    if attribute is not None:
        found = next((r for r, c in zip(rows, columns, strict=True) if c.name == attribute), None)
        if found is None:
            raise FakeFault(
                404,
                CODE_NOT_FOUND,
                f"Could not find an attribute with logical name '{attribute}' on entity "
                f"'{entity}'.",
            )
        return FakeResponse.json_body(200, {"@odata.context": context + "/$entity", **found})
    return FakeResponse.json_body(200, {"@odata.context": context, "value": rows})


def check_column_definitions_served(ctx: RequestContext) -> None:
    """404 for every column-definition request when ``serve_column_definitions`` is off."""
    if not ctx.options.serve_column_definitions:
        raise FakeFault(404, CODE_NOT_FOUND, "Resource not found for the segment 'Attributes'.")


def handle_attribute_definitions(ctx: RequestContext) -> FakeResponse:
    """The route entry: :func:`handle_attributes` over the org's tenant schema."""
    check_column_definitions_served(ctx)
    return handle_attributes(ctx.request, ctx.org.schema)
