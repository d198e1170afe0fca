"""Table definitions: ``GET EntityDefinitions``, by key, and its ``Keys`` and relationships.

The shapes of Microsoft's "Query table definitions using the Web API" page
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api):

* ``EntityDefinitions?$select=…&$filter=LogicalName eq 'lead'`` -> ``{"value": [EntityMetadata]}``
  (``$filter`` on any filled property: ``LogicalName``, ``EntitySetName``, ``IsPrivate`` …);
* ``EntityDefinitions(LogicalName='lead')`` or ``EntityDefinitions(<MetadataId>)`` -> one entity
  (``@odata.context`` ending ``/$entity``), ``$select`` and ``$expand`` of ``Attributes``,
  ``Keys``, ``ManyToOneRelationships``, ``OneToManyRelationships`` (nested ``$select``);
* ``…/Keys``, ``…/ManyToOneRelationships``, ``…/OneToManyRelationships``,
  ``…/ManyToManyRelationships`` (none in the fake's schema) -> collections with ``$select``.

Served from the org's ``TenantSchema`` (tenant columns and keys included).  Other paths below
``EntityDefinitions`` answer 501 naming the path; unknown tables 404; writes 405.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.fault import CODE_NOT_FOUND, FakeFault, method_not_allowed, not_implemented
from ..core.values import split_top_level
from ..org import entity_metadata as em
from ..org.schema import Table
from ..org.state import OrgState
from ..org.tables import RELATIONSHIPS, TABLES
from ..wire.messages import FakeResponse, service_root
from ..wire.metadata_query import (
    compile_metadata_filter,
    parse_metadata_select,
    unknown_property,
)
from ..wire.query_options import unsupported_parameter
from .attribute_metadata import attribute_definition
from .context import RequestContext

__all__ = [
    "NAVIGATIONS",
    "entity_by_key",
    "handle_entity_definitions",
    "is_entity_definitions_path",
]

_PATH_RE = re.compile(r"^EntityDefinitions(?:\((?P<key>[^)]*)\))?(?:/(?P<nav>[A-Za-z]+))?$")
_LOGICAL_KEY_RE = re.compile(r"^LogicalName='(?P<name>[^']*)'$")
_GUID_KEY_RE = re.compile(r"^\{?(?P<id>[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})\}?$")
NAVIGATIONS = (
    "Attributes",
    "Keys",
    "ManyToOneRelationships",
    "OneToManyRelationships",
    "ManyToManyRelationships",
)
"""Collection-valued navigation properties of ``EntityMetadata`` the fake serves."""
_NAV_TYPES = {
    "Attributes": "AttributeMetadata",
    "Keys": "EntityKeyMetadata",
    "ManyToOneRelationships": "OneToManyRelationshipMetadata",
    "OneToManyRelationships": "OneToManyRelationshipMetadata",
    "ManyToManyRelationships": "ManyToManyRelationshipMetadata",
}


def is_entity_definitions_path(path: str) -> bool:
    """True for every path below ``EntityDefinitions`` (unknown ones answer 501 here)."""
    return path == "EntityDefinitions" or path.startswith(
        ("EntityDefinitions(", "EntityDefinitions/")
    )


def entity_by_key(org: OrgState, key: str) -> Table:
    """The table named by an ``EntityDefinitions`` key: ``LogicalName='x'`` or its MetadataId."""
    logical = _LOGICAL_KEY_RE.match(key)
    if logical is not None:
        name = logical.group("name")
        try:
            return org.schema.table(name)
        except KeyError:
            raise FakeFault(
                404, CODE_NOT_FOUND, f"Could not find an entity with logical name '{name}'."
            ) from None
    guid = _GUID_KEY_RE.match(key)
    if guid is None:
        raise not_implemented(f"the EntityDefinitions key '{key}' (use LogicalName='…' or an id)")
    wanted = guid.group("id").lower()
    for meta in org.schema.tables.values():
        if em.metadata_id(meta.logical_name) == wanted:
            return meta
    raise FakeFault(404, CODE_NOT_FOUND, f"Could not find an entity with MetadataId '{wanted}'.")


def _collection_names() -> dict[tuple[str, str, str], str]:
    # Tenant lookups have no collection-valued navigation back (see org/tenant.py).
    return {(r.referenced, r.referencing, r.column): r.name for r in RELATIONSHIPS}


def _navigation(org: OrgState, meta: Table, nav: str) -> list[dict[str, Any]]:
    tables = list(org.schema.tables.values())
    if nav == "Attributes":
        builtin = TABLES.get(meta.logical_name)
        return [
            attribute_definition(
                meta, c, n, custom=builtin is None or builtin.column(c.name) is None
            )
            for n, c in enumerate(meta.columns, start=1)
        ]
    if nav == "Keys":
        return em.key_definitions(meta)
    if nav == "ManyToOneRelationships":
        return em.many_to_one(meta, tables, _collection_names())
    if nav == "OneToManyRelationships":
        return em.one_to_many(meta, tables, _collection_names())
    return []


def _properties(org: OrgState, nav: str, rows: list[dict[str, Any]]) -> set[str]:
    # What $select/$filter may name: the properties the fake fills for this type, even when
    # this table has no such item (a table without alternate keys still has EntityKeyMetadata).
    sample = TABLES["account"]
    found = {k for row in [*rows, *_navigation(org, sample, nav)] for k in row}
    return found or {"MetadataId", "SchemaName"}


def _definition(org: OrgState, meta: Table) -> dict[str, Any]:
    tracked = meta.logical_name in org.options.change_tracking_tables
    return em.entity_definition(meta, change_tracking=tracked)


def _trim(row: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    if select is None:
        return row
    keep = {"@odata.type", "MetadataId", *select}
    return {k: v for k, v in row.items() if k in keep}


def _expand(
    org: OrgState, meta: Table, text: str | None
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    expanded: dict[str, list[dict[str, Any]]] = {}
    names: list[str] = []
    for item in split_top_level(text, ",") if text else []:
        name, _, rest = item.strip().partition("(")
        name = name.strip()
        if name not in _NAV_TYPES:
            raise unknown_property(name, "EntityMetadata")
        select_text: str | None = None
        for option in split_top_level(rest.rstrip(")"), ";") if rest.strip() else []:
            option_name, _, value = option.strip().partition("=")
            if option_name != "$select":
                raise not_implemented(f"{option_name} inside $expand of EntityDefinitions")
            select_text = value
        rows = _navigation(org, meta, name)
        properties = _properties(org, name, rows)
        select = parse_metadata_select(select_text, properties, _NAV_TYPES[name])
        expanded[name] = [_trim(r, select) for r in rows]
        names.append(f"{name}({select_text})" if select_text else name)
    return expanded, names


def _check_options(ctx: RequestContext, allowed: set[str]) -> None:
    for name, _ in ctx.request.query:
        if name.startswith("$") and name not in allowed:
            if name in ("$top", "$orderby", "$skip", "$count", "$apply", "$search"):
                raise not_implemented(f"the {name} query option on table definitions")
            raise unsupported_parameter(name)
        if not name.startswith(("$", "@")):
            raise unsupported_parameter(name)


def handle_entity_definitions(ctx: RequestContext) -> FakeResponse:
    """Answer a ``GET`` below ``EntityDefinitions`` (see the module docstring)."""
    request = ctx.request
    org = ctx.org
    match = _PATH_RE.match(request.path)
    if match is None or (match.group("nav") and match.group("nav") not in NAVIGATIONS):
        raise not_implemented(f"the metadata request '{request.path}'")
    if request.method != "GET":
        raise method_not_allowed(request.method, request.path, "the fake's metadata is read-only")
    key, nav = match.group("key", "nav")
    base = service_root(request)
    if key is None:
        if nav is not None:
            raise not_implemented(f"the metadata request '{request.path}'")
        return _collection(ctx, base)
    meta = entity_by_key(org, key)
    if nav is not None:
        _check_options(ctx, {"$select", "$filter"})
        rows = _navigation(org, meta, nav)
        properties = _properties(org, nav, rows)
        select = parse_metadata_select(request.query_value("$select"), properties, _NAV_TYPES[nav])
        filter_text = request.query_value("$filter")
        if filter_text is not None:
            predicate = compile_metadata_filter(filter_text, properties, _NAV_TYPES[nav])
            rows = [r for r in rows if predicate(r)]
        context = f"{base}$metadata#EntityDefinitions('{meta.logical_name}')/{nav}"
        if select:
            context += f"({','.join(select)})"
        return FakeResponse.json_body(
            200, {"@odata.context": context, "value": [_trim(r, select) for r in rows]}
        )
    _check_options(ctx, {"$select", "$expand"})
    row = _definition(org, meta)
    select = parse_metadata_select(request.query_value("$select"), set(row), "EntityMetadata")
    expanded, names = _expand(org, meta, request.query_value("$expand"))
    shown = [*(select or []), *names]
    context = f"{base}$metadata#EntityDefinitions"
    context += f"({','.join(shown)})/$entity" if shown else "/$entity"
    body = {"@odata.context": context, **_trim(row, select), **expanded}
    return FakeResponse.json_body(200, body)


def _collection(ctx: RequestContext, base: str) -> FakeResponse:
    _check_options(ctx, {"$select", "$filter"})
    request = ctx.request
    rows = [_definition(ctx.org, meta) for meta in ctx.org.schema.tables.values()]
    properties = set(rows[0]) if rows else {"MetadataId"}
    select = parse_metadata_select(request.query_value("$select"), properties, "EntityMetadata")
    filter_text = request.query_value("$filter")
    if filter_text is not None:
        predicate = compile_metadata_filter(filter_text, properties, "EntityMetadata")
        rows = [r for r in rows if predicate(r)]
    context = f"{base}$metadata#EntityDefinitions"
    if select:
        context += f"({','.join(select)})"
    return FakeResponse.json_body(
        200, {"@odata.context": context, "value": [_trim(r, select) for r in rows]}
    )
