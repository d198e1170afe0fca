"""The fake's router: ``/api/data/v9.2/<…>`` -> the handler of each resource.

Routes (anything else that Dataverse knows answers ``501`` naming the feature; unknown
segments ``404`` as Dataverse does):

=====================================================  ========================================
``GET /``                                               service document (entity sets)
``GET /WhoAmI``                                         caller, business unit, organization
``POST /$batch``                                        :mod:`~d365leads.fake.batch`
``GET /<set>`` (+ track-changes / ``$deltatoken``)      :mod:`~d365leads.fake.query` /
                                                        :mod:`~d365leads.fake.delta`
``GET /<set>/$count``                                   row count (text/plain)
``POST /<set>``                                         create
``GET|PATCH|DELETE /<set>(<id or alternate key>)``      retrieve, update/upsert, delete
``… /<set>(<key>)/<column>`` and ``/<nav>[/$ref]``      single property / lookup
``POST /<set>(<key>)/Microsoft.Dynamics.CRM.<Action>``  bound actions (``QualifyLead``)
``POST /<Action>``                                      unbound actions (``WinOpportunity``)
``GET /EntityDefinitions(…)/Attributes(…)/…``           status metadata (``rules``)
``GET /EntityDefinitions(…)/Attributes[(…)]``          column definitions (``attribute_metadata``)
=====================================================  ========================================
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

from . import attribute_metadata, crud, delta, query, rules
from .errors import (
    CODE_BAD_QUERY,
    FakeFault,
    bad_request,
    method_not_allowed,
    not_found,
    not_implemented,
    resource_not_found,
)
from .http import API_PATH, FakeRequest, FakeResponse
from .schema import Table

if TYPE_CHECKING:
    from .app import FakeDataverse

__all__ = ["ACTION_PREFIX", "route", "split_segments"]

ACTION_PREFIX = "Microsoft.Dynamics.CRM."
_SEGMENT_RE = re.compile(r"^(?P<name>[^()]+)(?:\((?P<key>.*)\))?$", re.DOTALL)
# Dataverse resources the fake recognises but does not implement (answer 501, not 404).
_KNOWN_UNSUPPORTED = {
    "$metadata": "the $metadata document",
    "GlobalOptionSetDefinitions": "global option set metadata",
    "RelationshipDefinitions": "relationship metadata",
    "RetrieveTotalRecordCount": "the RetrieveTotalRecordCount function",
    "RetrieveVersion": "the RetrieveVersion function",
    "sdkmessagefilters": "the sdkmessagefilters table",
    "businessunits": "the businessunit table",
    "teams": "the team table",
    "tasks": "the task table",
    "annotations": "the annotation (note) table",
    "activitypointers": "activities",
    "SetState": "the deprecated SetState message (PATCH statecode/statuscode instead)",
}


def split_segments(request: FakeRequest) -> list[str]:
    """Path segments after ``/api/data/v9.2/``, each percent-decoded on its own.

    Splitting before decoding keeps a ``/`` inside an alternate-key value in its segment.
    """
    raw = request.raw_path
    index = raw.find(API_PATH)
    rest = raw[index + len(API_PATH) :] if index >= 0 else ""
    return [unquote(s) for s in rest.split("/") if s != ""]


def _service_document(fake: FakeDataverse, request: FakeRequest) -> FakeResponse:
    root = query.service_root(request)
    return FakeResponse.json_body(
        200,
        {
            "@odata.context": f"{root}$metadata",
            "value": [
                {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
                for t in fake.schema.tables.values()
            ],
        },
    )


def _whoami(fake: FakeDataverse, request: FakeRequest) -> FakeResponse:
    if request.method != "GET":
        raise method_not_allowed(request.method, "WhoAmI")
    root = query.service_root(request)
    return FakeResponse.json_body(
        200,
        {
            "@odata.context": f"{root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": fake.business_unit_id,
            "UserId": fake.caller_id,
            "OrganizationId": fake.organization_id,
        },
    )


def _action(
    fake: FakeDataverse,
    request: FakeRequest,
    meta: Table | None,
    record_id: str | None,
    name: str,
) -> FakeResponse:
    short = name.removeprefix(ACTION_PREFIX)
    if meta is not None:
        executor = fake.bound_actions.get((meta.logical_name, short))
        if executor is None:
            raise not_implemented(f"the action or function '{name}' bound to '{meta.entity_set}'")
    else:
        executor = fake.unbound_actions.get(short)
        if executor is None:
            raise not_implemented(f"the action or function '{name}'")
    if request.method != "POST":
        raise method_not_allowed(request.method, name)
    return executor(fake, request, record_id)


def _entity_routes(
    fake: FakeDataverse, request: FakeRequest, meta: Table, key_text: str | None, rest: list[str]
) -> FakeResponse:
    method = request.method
    if key_text is None:
        if not rest:
            if method == "GET":
                if delta.is_tracked_request(request):
                    return delta.handle_delta(fake, request, meta)
                return query.handle_collection(fake, request, meta)
            if method == "POST":
                return crud.handle_create(fake, request, meta)
            raise method_not_allowed(method, meta.entity_set)
        if rest == ["$count"]:
            if method != "GET":
                raise method_not_allowed(method, f"{meta.entity_set}/$count")
            if request.query_value("$deltatoken") is not None:
                raise not_implemented("$count of a change-tracking delta")
            return query.handle_count(fake, request, meta)
        if len(rest) == 1 and rest[0].startswith(ACTION_PREFIX):
            return _action(fake, request, meta, None, rest[0])
        raise resource_not_found(rest[0])
    key = crud.parse_key(key_text)
    if not rest:
        if method == "GET":
            return crud.handle_retrieve(fake, request, meta, key)
        if method == "PATCH":
            return crud.handle_patch(fake, request, meta, key)
        if method == "DELETE":
            return crud.handle_delete(fake, request, meta, key)
        raise method_not_allowed(method, f"{meta.entity_set}({key_text})")
    if rest[0].startswith(ACTION_PREFIX):
        if len(rest) > 1:
            raise resource_not_found(rest[1])
        record_id = crud.resolve_key(fake, meta, key)
        if record_id is None:
            raise not_found(meta.logical_name, key if isinstance(key, str) else key_text)
        return _action(fake, request, meta, record_id, rest[0])
    if (meta.logical_name, rest[0]) in fake.bound_actions:
        # Bound actions need the namespace; Dataverse answers this exact error without it.
        raise bad_request("Request message has unresolved parameters.", CODE_BAD_QUERY)
    return crud.handle_property(fake, request, meta, key, rest)


def route(fake: FakeDataverse, request: FakeRequest) -> FakeResponse:
    """Answer one Web API request (``FakeFault`` becomes its error response)."""
    try:
        return _route(fake, request)
    except FakeFault as fault:
        return fault.to_response()


def _route(fake: FakeDataverse, request: FakeRequest) -> FakeResponse:
    if not request.is_api:
        raise resource_not_found(request.raw_path)
    segments = split_segments(request)
    if not segments:
        if request.method != "GET":
            raise method_not_allowed(request.method, API_PATH)
        return _service_document(fake, request)
    first = segments[0]
    if first == "$batch":
        return fake.batch(request)
    if first in ("WhoAmI", "WhoAmI()"):
        return _whoami(fake, request)
    if attribute_metadata.is_attributes_path(request.path):
        return attribute_metadata.handle_attributes(request, fake.schema)
    if rules.is_metadata_path("/".join(segments)):
        return rules.handle_metadata(request, fake.options)
    match = _SEGMENT_RE.match(first)
    if match is None:
        raise resource_not_found(first)
    name = match.group("name")
    meta = fake.schema.table_for_set(name)
    if meta is not None:
        return _entity_routes(fake, request, meta, match.group("key"), segments[1:])
    if name in _KNOWN_UNSUPPORTED or name == "EntityDefinitions":
        raise not_implemented(_KNOWN_UNSUPPORTED.get(name, "this metadata request"))
    short = name.removeprefix(ACTION_PREFIX)
    if len(segments) == 1 and short in fake.unbound_actions:
        return _action(fake, request, None, None, name)
    if name[:1].isupper() or name.startswith(ACTION_PREFIX):
        raise not_implemented(f"the action or function '{name}'")
    raise resource_not_found(name)
