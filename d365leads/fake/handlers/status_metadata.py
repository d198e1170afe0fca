"""Status and state option metadata: ``EntityDefinitions(…)/Attributes(…)/<cast>``.

``GET EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='statuscode')/
Microsoft.Dynamics.CRM.StatusAttributeMetadata?$expand=OptionSet``, also
``StateAttributeMetadata`` and the collection form without the attribute key; the options come
from the org's state model (:func:`~d365leads.fake.org.states.status_model`), tenant-defined
status reasons included.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.fault import CODE_BAD_QUERY, FakeFault, method_not_allowed, not_implemented
from ..core.options import FakeOptions
from ..org.entity_metadata import metadata_id
from ..org.schema import Column, Table
from ..org.states import status_model
from ..wire.messages import FakeRequest, FakeResponse, service_root
from .context import RequestContext

__all__ = [
    "handle_metadata",
    "handle_status_metadata",
    "is_metadata_path",
    "is_status_path",
    "option_set",
]

_METADATA_RE = re.compile(
    r"^EntityDefinitions\(LogicalName='(?P<entity>[^']*)'\)/Attributes"
    r"(?:\(LogicalName='(?P<attribute>[^']*)'\))?"
    r"/Microsoft\.Dynamics\.CRM\.(?P<cast>\w+)$"
)
_CASTS = {"StatusAttributeMetadata": "statuscode", "StateAttributeMetadata": "statecode"}
_LANGUAGE = 1033


def is_status_path(path: str) -> bool:
    """True for the state/status casts this module answers (keys by logical name)."""
    match = _METADATA_RE.match(path)
    return match is not None and match.group("cast") in _CASTS


def is_metadata_path(path: str) -> bool:
    """True when ``path`` (after ``/api/data/v9.2/``) addresses ``EntityDefinitions``."""
    return path == "EntityDefinitions" or path.startswith("EntityDefinitions(")


def _metadata_id(*parts: str) -> str:
    # One id per metadata item, whichever route serves it.
    return metadata_id(*parts)


def _label(text: str, managed: bool, *key: str) -> dict[str, Any]:
    localized = {
        "Label": text,
        "LanguageCode": _LANGUAGE,
        "IsManaged": managed,
        "MetadataId": _metadata_id(*key, "label"),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": dict(localized)}


def _empty_label() -> dict[str, Any]:
    return {"LocalizedLabels": [], "UserLocalizedLabel": None}


def option_set(meta: Table, column: Column, options: FakeOptions) -> dict[str, Any]:
    """The ``OptionSet`` of ``statuscode``/``statecode`` of ``meta`` (a :func:`status_model`)."""
    custom = {
        value
        for name, value, _label_text, _state in options.custom_status_reasons
        if name == meta.logical_name
    }
    items: list[dict[str, Any]] = []
    if column.name == "statuscode":
        for status in meta.statuses:
            managed = status.value not in custom
            items.append(
                {
                    "@odata.type": "#Microsoft.Dynamics.CRM.StatusOptionMetadata",
                    "Value": status.value,
                    "State": status.state,
                    "TransitionData": None,
                    "Color": None,
                    "IsManaged": managed,
                    "ExternalValue": None,
                    "IsHidden": False,
                    "MetadataId": None,
                    "HasChanged": None,
                    "Label": _label(status.label, managed, meta.logical_name, str(status.value)),
                    "Description": _empty_label(),
                }
            )
        kind = "Status"
    else:
        for state in meta.states:
            items.append(
                {
                    "@odata.type": "#Microsoft.Dynamics.CRM.StateOptionMetadata",
                    "Value": state.value,
                    "DefaultStatus": state.default_status,
                    "InvariantName": state.enum_name,
                    "Color": None,
                    "IsManaged": True,
                    "ExternalValue": None,
                    "IsHidden": False,
                    "MetadataId": None,
                    "HasChanged": None,
                    "Label": _label(
                        state.label, True, meta.logical_name, "state", str(state.value)
                    ),
                    "Description": _empty_label(),
                }
            )
        kind = "State"
    return {
        "MetadataId": _metadata_id(meta.logical_name, column.name, "optionset"),
        "HasChanged": None,
        "IsCustomOptionSet": False,
        "IsGlobal": False,
        "IsManaged": True,
        "Name": f"{meta.logical_name}_{column.name}",
        "ExternalTypeName": None,
        "OptionSetType": kind,
        "IntroducedVersion": "5.0.0.0",
        "Description": _empty_label(),
        "DisplayName": _label(column.label, True, meta.logical_name, column.name, "optionset"),
        "Options": items,
    }


def _attribute(meta: Table, column: Column, options: FakeOptions, expand: bool) -> dict[str, Any]:
    kind = "Status" if column.name == "statuscode" else "State"
    body: dict[str, Any] = {
        "MetadataId": _metadata_id(meta.logical_name, column.name),
        "LogicalName": column.name,
        "SchemaName": "StatusCode" if kind == "Status" else "StateCode",
        "EntityLogicalName": meta.logical_name,
        "AttributeType": kind,
        "AttributeTypeName": {"Value": f"{kind}Type"},
        "IsCustomAttribute": False,
        "IsValidForCreate": kind == "Status",
        "IsValidForUpdate": True,
        "DisplayName": _label(column.label, True, meta.logical_name, column.name),
        "DefaultFormValue": None if kind == "State" else -1,
    }
    if expand:
        body["OptionSet"] = option_set(meta, column, options)
    return body


def _select(body: dict[str, Any], select: str | None, cast: str) -> dict[str, Any]:
    if select is None:
        return body
    wanted = [s.strip() for s in select.split(",") if s.strip()]
    for name in wanted:
        if name not in body and name != "OptionSet":
            raise FakeFault(
                400,
                CODE_BAD_QUERY,
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{cast}'.",
            )
    keep = {"MetadataId", "OptionSet", *wanted}
    return {k: v for k, v in body.items() if k in keep}


def _wants_option_set(expand: str | None, cast: str) -> bool:
    if expand is None:
        return False
    wanted = False
    for item in expand.split(","):
        name = item.strip().split("(", 1)[0].strip()
        if name == "OptionSet":
            wanted = True
        elif name:
            raise FakeFault(
                400,
                CODE_BAD_QUERY,
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{cast}'.",
            )
    return wanted


def handle_metadata(request: FakeRequest, options: FakeOptions) -> FakeResponse:
    """Answer ``GET EntityDefinitions(LogicalName='<t>')/Attributes(...)/<cast>`` for state tables.

    Supported casts: ``Microsoft.Dynamics.CRM.StatusAttributeMetadata`` (``statuscode``; each
    option has ``Value``, ``State`` and ``Label.UserLocalizedLabel.Label``) and
    ``Microsoft.Dynamics.CRM.StateAttributeMetadata`` (``statecode``; ``DefaultStatus``,
    ``InvariantName``).  ``$expand=OptionSet`` adds the options, ``$select`` trims the
    attribute.  Without ``(LogicalName='...')`` after ``Attributes`` the answer is the
    collection form ``{"value": [...]}``.  Includes tenant-defined status reasons.  Other
    metadata requests raise a 501 :class:`FakeFault`; unknown tables/attributes 404.
    """
    if request.method != "GET":
        raise method_not_allowed(request.method, request.path, "the fake's metadata is read-only")
    match = _METADATA_RE.match(request.path)
    if match is None:
        raise not_implemented(
            f"the metadata request '{request.path}' (only status/state option metadata: "
            "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='statuscode')/"
            "Microsoft.Dynamics.CRM.StatusAttributeMetadata?$expand=OptionSet)"
        )
    entity, attribute, cast = match.group("entity", "attribute", "cast")
    if cast not in _CASTS:
        raise not_implemented(f"attribute metadata of type Microsoft.Dynamics.CRM.{cast}")
    try:
        meta = status_model(entity, options)
    except KeyError:
        raise FakeFault(
            404, "0x80040217", f"Could not find an entity with logical name '{entity}'."
        ) from None
    column_name = _CASTS[cast]
    column = meta.column(column_name) if meta.has_state else None
    if attribute is not None and meta.column(attribute) is None:
        raise FakeFault(
            404,
            "0x80040217",
            f"Could not find an attribute with logical name '{attribute}' on entity '{entity}'.",
        )
    if attribute is not None and (attribute != column_name or column is None):
        raise FakeFault(
            404,
            "0x80040217",
            f"The attribute '{attribute}' of entity '{entity}' is not of type "
            f"Microsoft.Dynamics.CRM.{cast}.",
        )
    expand = _wants_option_set(request.query_value("$expand"), cast)
    select = request.query_value("$select")
    base = service_root(request)
    context = (
        f"{base}$metadata#EntityDefinitions('{entity}')/Attributes/Microsoft.Dynamics.CRM.{cast}"
    )
    rows: list[dict[str, Any]] = []
    if column is not None:
        rows.append(_select(_attribute(meta, column, options, expand), select, cast))
    if attribute is not None:
        return FakeResponse.json_body(200, {"@odata.context": context + "/$entity", **rows[0]})
    return FakeResponse.json_body(200, {"@odata.context": context, "value": rows})


def handle_status_metadata(ctx: RequestContext) -> FakeResponse:
    """The route entry: :func:`handle_metadata` for the request and the org's options."""
    return handle_metadata(ctx.request, ctx.options)
