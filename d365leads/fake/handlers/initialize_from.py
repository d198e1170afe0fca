"""``GET InitializeFrom(EntityMoniker=@p1,TargetEntityName=@p2,TargetFieldType=@p3)``.

The documented request (create-entity page) passes the parameters as aliases::

    ?@p1={'@odata.id':'accounts(<id>)'}&@p2='account'
    &@p3=Microsoft.Dynamics.CRM.TargetFieldType'ValidForCreate'

``EntityMoniker`` is an entity reference, written with single quotes on the page (read here
like JSON), as ``{"@odata.id": "accounts(<id>)"}`` (relative, ``/``-rooted or absolute) or as
``{"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": "<id>"}``; the parameters may
also be written inline instead of as aliases. ``TargetFieldType`` takes the enum member,
quoted, or its number. The answer is the target row's mapped values
(:func:`~d365leads.fake.org.initialize_from.initialize_from`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..core.fault import CODE_BAD_QUERY, FakeFault, bad_request, method_not_allowed
from ..core.values import normalize_id, split_top_level
from ..org.initialize_from import FIELD_TYPES, initialize_from
from ..org.schema import Table
from ..wire.messages import FakeResponse, service_root
from ..wire.query_options import aliases
from .context import RequestContext

__all__ = ["handle_initialize_from", "is_initialize_from_path"]

_NAME = "InitializeFrom"
_PARAMETERS = ("EntityMoniker", "TargetEntityName", "TargetFieldType")
_REFERENCE_RE = re.compile(r"(?:^|/)(?P<set>[A-Za-z_][A-Za-z0-9_]*)\((?P<key>[^()]+)\)$")
_ENUM_RE = re.compile(r"^(?:Microsoft\.Dynamics\.CRM\.TargetFieldType)?'(?P<member>\w+)'$")


def is_initialize_from_path(path: str) -> bool:
    """True for ``InitializeFrom`` and ``InitializeFrom(…)``."""
    return path == _NAME or path.startswith(f"{_NAME}(")


def _parameters(ctx: RequestContext) -> dict[str, str]:
    path = ctx.request.path
    if not path.endswith(")") or "(" not in path:
        raise bad_request(
            "InitializeFrom needs its parameters: InitializeFrom(EntityMoniker=@p1,"
            "TargetEntityName=@p2,TargetFieldType=@p3)?@p1=…",
            CODE_BAD_QUERY,
        )
    alias_values = aliases(ctx.request)
    found: dict[str, str] = {}
    inner = path[len(_NAME) + 1 : -1]
    for part in split_top_level(inner) if inner.strip() else []:
        name, equals, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or name not in _PARAMETERS:
            raise bad_request(
                f"InitializeFrom has no parameter '{name}'; it takes {', '.join(_PARAMETERS)}.",
                CODE_BAD_QUERY,
            )
        if value.startswith("@"):
            if value not in alias_values:
                raise bad_request(
                    f"The parameter alias '{value}' of InitializeFrom has no value in the query.",
                    CODE_BAD_QUERY,
                )
            value = alias_values[value]
        found[name] = value
    missing = [p for p in _PARAMETERS[:2] if p not in found]
    if missing:
        raise bad_request(
            f"InitializeFrom is missing the parameter(s) {', '.join(missing)}.", CODE_BAD_QUERY
        )
    return found


def _moniker(ctx: RequestContext, text: str) -> tuple[Table, str]:
    try:
        value: Any = json.loads(text)
    except ValueError:
        try:
            value = json.loads(text.replace("'", '"'))
        except ValueError:
            value = None
    example = "{'@odata.id':'accounts(<id>)'}"
    if not isinstance(value, dict):
        raise bad_request(
            f"EntityMoniker must be an entity reference like {example}, not {text!r}.",
            CODE_BAD_QUERY,
        )
    reference = value.get("@odata.id")
    if isinstance(reference, str):
        match = _REFERENCE_RE.search(reference.split("?", 1)[0])
        meta = ctx.org.schema.table_for_set(match.group("set")) if match else None
        if match is None or meta is None:
            raise bad_request(
                f"EntityMoniker '@odata.id' {reference!r} does not name a row of a known "
                f"entity set; send {example}.",
                CODE_BAD_QUERY,
            )
        raw_id = match.group("key")
    else:
        kind = str(value.get("@odata.type", "")).removeprefix("#")
        logical = kind.removeprefix("Microsoft.Dynamics.CRM.")
        try:
            meta = ctx.org.schema.table(logical)
        except KeyError:
            raise bad_request(
                f"EntityMoniker needs '@odata.id' or a known '@odata.type'; send {example}.",
                CODE_BAD_QUERY,
            ) from None
        raw_id = str(value.get(meta.primary_key, ""))
    try:
        return meta, normalize_id(raw_id)
    except ValueError:
        raise bad_request(
            f"EntityMoniker names {raw_id!r}, which is not a GUID.", CODE_BAD_QUERY
        ) from None


def _field_type(text: str | None) -> str:
    if text is None:
        return "All"
    match = _ENUM_RE.match(text.strip())
    member = match.group("member") if match else text.strip()
    if member.isdigit():
        member = next((k for k, v in FIELD_TYPES.items() if v == int(member)), member)
    if member not in FIELD_TYPES:
        raise bad_request(
            f"TargetFieldType {text!r} is not one of {', '.join(FIELD_TYPES)}.", CODE_BAD_QUERY
        )
    return member


def handle_initialize_from(ctx: RequestContext) -> FakeResponse:
    """Answer ``InitializeFrom`` with the target row's mapped values (200)."""
    if ctx.request.method != "GET":
        raise method_not_allowed(ctx.request.method, _NAME)
    found = _parameters(ctx)
    source, source_id = _moniker(ctx, found["EntityMoniker"])
    target_name = found["TargetEntityName"].strip().strip("'\"")
    try:
        target = ctx.org.schema.table(target_name)
    except KeyError:
        raise FakeFault(
            400, CODE_BAD_QUERY, f"TargetEntityName '{target_name}' is not a known table."
        ) from None
    body = initialize_from(
        ctx.org, source, source_id, target, _field_type(found.get("TargetFieldType"))
    )
    root = service_root(ctx.request)
    return FakeResponse.json_body(
        200,
        {
            "@odata.context": f"{root}$metadata#{target.entity_set}/$entity",
            "@odata.type": f"#{target.type_name}",
            **body,
        },
    )
