"""Column definitions by type: ``EntityDefinitions(…)/Attributes[(…)]/<cast>``.

Clients map choice labels and lookup targets through the derived attribute types
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api,
"Retrieving attributes"):

* ``…/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName
  &$expand=OptionSet($select=Options)`` -> ``{"value": [...]}``, the columns of that type;
* ``…/Attributes(<MetadataId> or LogicalName='x')/Microsoft.Dynamics.CRM.<Cast>`` -> one column
  (404 when it is not of that type);
* ``…/Attributes(<key>)/Microsoft.Dynamics.CRM.<Cast>/OptionSet`` -> the option set alone;
* ``…/Attributes(<MetadataId>)`` without a cast -> the column as ``…/Attributes(LogicalName=…)``.

Casts: every derived type of :data:`~.attribute_metadata.ATTRIBUTE_TYPES` (``Picklist``,
``Boolean``, ``State``, ``Status``, ``Lookup`` …).  ``$expand`` takes ``OptionSet`` and
``GlobalOptionSet`` (``null``: the fake's choices are local), with a nested ``$select``.
Choice options come from the schema (tenant status reasons included for ``statuscode``).
Served from the org's ``TenantSchema``, so tenant columns are included.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.fault import CODE_NOT_FOUND, FakeFault, method_not_allowed, not_implemented
from ..core.values import split_top_level
from ..org import entity_metadata as em
from ..org.schema import Column, Table
from ..org.state import OrgState
from ..org.states import status_model
from ..org.tables import TABLES
from ..wire.messages import FakeResponse, service_root
from ..wire.metadata_query import parse_metadata_select, unknown_property
from ..wire.query_options import unsupported_parameter
from .attribute_metadata import (
    ATTRIBUTE_TYPES,
    attribute_definition,
    check_column_definitions_served,
)
from .context import RequestContext
from .entity_definitions import entity_by_key
from .status_metadata import option_set as status_option_set

__all__ = ["handle_typed_attributes", "is_typed_attributes_path"]

_PATH_RE = re.compile(
    r"^EntityDefinitions\((?P<entity>[^)]*)\)/Attributes(?:\((?P<attribute>[^)]*)\))?"
    r"(?:/Microsoft\.Dynamics\.CRM\.(?P<cast>\w+))?(?:/(?P<tail>OptionSet|GlobalOptionSet))?$"
)
_LOGICAL_KEY_RE = re.compile(r"^LogicalName='(?P<name>[^']*)'$")
_CASTS = {derived for _code, derived in ATTRIBUTE_TYPES.values()}
# Properties of the derived types beyond AttributeMetadata (what $select may name).
_DERIVED = {
    "PicklistAttributeMetadata": {"OptionSet", "GlobalOptionSet", "DefaultFormValue"},
    "StateAttributeMetadata": {"OptionSet", "GlobalOptionSet", "DefaultFormValue"},
    "StatusAttributeMetadata": {"OptionSet", "GlobalOptionSet", "DefaultFormValue"},
    "BooleanAttributeMetadata": {"OptionSet", "GlobalOptionSet", "DefaultValue"},
    "LookupAttributeMetadata": {"Targets", "Format"},
    "StringAttributeMetadata": {"MaxLength", "Format"},
    "MemoAttributeMetadata": {"MaxLength", "Format"},
    "DateTimeAttributeMetadata": {"Format"},
}
_EXPANDABLE = {"OptionSet", "GlobalOptionSet"}


def is_typed_attributes_path(path: str) -> bool:
    """True for a cast below ``Attributes``, or an attribute keyed by its ``MetadataId``."""
    match = _PATH_RE.match(path)
    if match is None:
        return False
    attribute = match.group("attribute")
    return match.group("cast") is not None or (
        attribute is not None and _LOGICAL_KEY_RE.match(attribute) is None
    )


def _choice_option(meta: Table, column: Column, value: int, label: str) -> dict[str, Any]:
    return {
        "Value": value,
        "Label": em.localized_label(label, meta.logical_name, column.name, str(value)),
        "Description": em.localized_label(""),
        "Color": None,
        "IsManaged": True,
        "MetadataId": None,
        "HasChanged": None,
    }


def _option_set(org: OrgState, meta: Table, column: Column) -> dict[str, Any] | None:
    if column.type in ("state", "status"):
        return status_option_set(status_model(meta.logical_name, org.options), column, org.options)
    if column.type not in ("picklist", "bool"):
        return None
    name = meta.logical_name
    body: dict[str, Any] = {}
    if column.type == "picklist":
        body["Options"] = [_choice_option(meta, column, v, t) for v, t in column.options.items()]
    else:
        labels = {0: "No", 1: "Yes", **column.options}
        body["TrueOption"] = _choice_option(meta, column, 1, labels[1])
        body["FalseOption"] = _choice_option(meta, column, 0, labels[0])
    body.update(
        {
            "Description": em.localized_label(
                em.option_set_description(name, column.name), name, column.name, "optionset", "d"
            ),
            "DisplayName": em.localized_label(column.label, name, column.name, "optionset"),
            "IsCustomOptionSet": False,
            "IsGlobal": False,
            "IsManaged": True,
            "IsCustomizable": {
                "Value": True,
                "CanBeChanged": False,
                "ManagedPropertyLogicalName": "iscustomizable",
            },
            "Name": f"{name}_{column.name}",
            "OptionSetType": "Picklist" if column.type == "picklist" else "Boolean",
            "IntroducedVersion": None,
            "MetadataId": em.metadata_id(name, column.name, "optionset"),
            "HasChanged": None,
        }
    )
    return body


def _attribute(org: OrgState, meta: Table, column: Column) -> dict[str, Any]:
    builtin = TABLES.get(meta.logical_name)
    number = meta.columns.index(column) + 1
    custom = builtin is None or builtin.column(column.name) is None
    body = attribute_definition(meta, column, number, custom=custom)
    if column.type in ("picklist", "state", "status"):
        body["DefaultFormValue"] = -1 if column.type != "state" else None
    elif column.type == "bool":
        body["DefaultValue"] = False
    elif column.is_lookup:
        body["Format"] = "None"
    return body


def _expand(text: str | None, cast: str) -> dict[str, list[str] | None]:
    wanted: dict[str, list[str] | None] = {}
    for item in split_top_level(text, ",") if text else []:
        name, _, rest = item.strip().partition("(")
        name = name.strip()
        if name not in _EXPANDABLE or name not in _DERIVED.get(cast, set()):
            raise unknown_property(name, cast)
        select: list[str] | None = None
        for option in split_top_level(rest.rstrip(")"), ";") if rest.strip() else []:
            option_name, _, value = option.strip().partition("=")
            if option_name != "$select":
                raise not_implemented(f"{option_name} inside $expand of {name}")
            select = [s.strip() for s in value.split(",") if s.strip()]
        wanted[name] = select
    return wanted


def _trim_option_set(body: dict[str, Any] | None, select: list[str] | None) -> Any:
    if body is None or select is None:
        return body
    for name in select:
        if name not in body:
            raise unknown_property(name, "OptionSetMetadata")
    return {k: v for k, v in body.items() if k in {"MetadataId", *select}}


def _column(meta: Table, key: str) -> Column:
    logical = _LOGICAL_KEY_RE.match(key)
    for column in meta.columns:
        if logical is not None and column.name == logical.group("name"):
            return column
        if logical is None and em.metadata_id(meta.logical_name, column.name) == key.lower():
            return column
    raise FakeFault(
        404,
        CODE_NOT_FOUND,
        f"Could not find an attribute with key '{key}' on entity '{meta.logical_name}'.",
    )


def _of_cast(column: Column, cast: str | None) -> bool:
    return cast is None or ATTRIBUTE_TYPES[column.type][1] == cast


def handle_typed_attributes(ctx: RequestContext) -> FakeResponse:
    """Answer ``GET EntityDefinitions(…)/Attributes…/<cast>[/OptionSet]`` (module docstring)."""
    request = ctx.request
    if request.method != "GET":
        raise method_not_allowed(request.method, request.path, "the fake's metadata is read-only")
    check_column_definitions_served(ctx)
    match = _PATH_RE.match(request.path)
    assert match is not None  # the router checked is_typed_attributes_path
    entity_key, attribute_key, cast, tail = match.group("entity", "attribute", "cast", "tail")
    if cast is not None and cast not in _CASTS:
        raise not_implemented(f"attribute metadata of type Microsoft.Dynamics.CRM.{cast}")
    for name, _ in request.query:
        if name not in ("$select", "$expand"):
            raise unsupported_parameter(name)
    meta = entity_by_key(ctx.org, entity_key)
    type_name = cast or "AttributeMetadata"
    base = service_root(request)
    if tail is not None:
        if attribute_key is None or cast is None:
            raise not_implemented(f"the metadata request '{request.path}'")
        return _option_set_only(ctx, meta, attribute_key, cast, tail, base)
    columns = [c for c in meta.columns if _of_cast(c, cast)]
    if attribute_key is not None:
        column = _column(meta, attribute_key)
        if not _of_cast(column, cast):
            raise FakeFault(
                404,
                CODE_NOT_FOUND,
                f"The attribute '{column.name}' of entity '{meta.logical_name}' is not of type "
                f"Microsoft.Dynamics.CRM.{cast}.",
            )
        columns = [column]
    rows = [_attribute(ctx.org, meta, c) for c in columns]
    properties = {k for r in rows for k in r} | _DERIVED.get(type_name, set())
    select = parse_metadata_select(request.query_value("$select"), properties, type_name)
    expand = _expand(request.query_value("$expand"), type_name)
    keep = {"MetadataId", *(select or ())}
    if cast is None:
        keep.add("@odata.type")
    shaped: list[dict[str, Any]] = []
    for column, row in zip(columns, rows, strict=True):
        body = row if select is None else {k: v for k, v in row.items() if k in keep}
        if cast is not None:
            body.pop("@odata.type", None)
        for name, nested in expand.items():
            full = _option_set(ctx.org, meta, column) if name == "OptionSet" else None
            body[name] = _trim_option_set(full, nested)
        shaped.append(body)
    shown = [*(select or []), *expand]
    suffix = f"/Microsoft.Dynamics.CRM.{cast}" if cast else ""
    selected = f"({','.join(shown)})" if shown else ""
    if attribute_key is None:
        context = f"{base}$metadata#EntityDefinitions('{meta.logical_name}')/Attributes{suffix}"
        return FakeResponse.json_body(200, {"@odata.context": context + selected, "value": shaped})
    entity_id = em.metadata_id(meta.logical_name)
    context = f"{base}$metadata#EntityDefinitions({entity_id})/Attributes{suffix}{selected}/$entity"
    body = {"@odata.context": context, **shaped[0]}
    for name in expand:
        attribute_id = shaped[0]["MetadataId"]
        body[f"{name}@odata.context"] = (
            f"{base}$metadata#EntityDefinitions({entity_id})/Attributes({attribute_id})"
            f"{suffix}/{name}/$entity"
        )
    return FakeResponse.json_body(200, body)


def _option_set_only(
    ctx: RequestContext, meta: Table, attribute_key: str, cast: str, tail: str, base: str
) -> FakeResponse:
    column = _column(meta, attribute_key)
    if not _of_cast(column, cast) or tail not in _DERIVED.get(cast, set()):
        raise not_implemented(f"the metadata request '{ctx.request.path}'")
    if ctx.request.query_value("$expand") is not None:
        raise not_implemented("$expand on an option set")
    full = _option_set(ctx.org, meta, column) if tail == "OptionSet" else None
    if full is None:
        return FakeResponse.empty(204)
    select = parse_metadata_select(
        ctx.request.query_value("$select"), set(full), "OptionSetMetadata"
    )
    body = _trim_option_set(full, select)
    attribute_id = em.metadata_id(meta.logical_name, column.name)
    context = (
        f"{base}$metadata#EntityDefinitions('{meta.logical_name}')/Attributes({attribute_id})"
        f"/Microsoft.Dynamics.CRM.{cast}/{tail}"
    )
    if select:
        context += f"({','.join(select)})"
    return FakeResponse.json_body(200, {"@odata.context": context + "/$entity", **body})
