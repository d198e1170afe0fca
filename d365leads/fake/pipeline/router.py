"""The routing table: ``/api/data/v9.2/<…>`` -> the handler of each resource.

Routes (anything else that Dataverse knows answers ``501`` naming the feature; unknown
segments ``404`` as Dataverse does):

=====================================================  ========================================
``GET /``                                               service document (``handlers.service``)
``GET /WhoAmI``                                         caller, business unit, organization
``POST /$batch``                                        ``handlers.batch``
``GET /<set>`` (+ track-changes / ``$deltatoken``)      ``handlers.query`` / ``handlers.delta``
``GET /<set>/$count``                                   row count (text/plain)
``POST /<set>``                                         create (``handlers.crud``)
``GET|PATCH|DELETE /<set>(<id or alternate key>)``      retrieve, update/upsert, delete
``… /<set>(<key>)/<column>`` and ``/<nav>[/$ref]``      ``handlers.properties``
``POST /<set>(<key>)/Microsoft.Dynamics.CRM.<Action>``  bound actions (``QualifyLead``)
``POST /<set>/Microsoft.Dynamics.CRM.<Action>``         actions bound to the entity set
``POST /<Action>``                                      unbound actions (``WinOpportunity``)
``GET /EntityDefinitions(…)/Attributes(…)/<cast>``      ``handlers.status_metadata`` (state/status)
``GET /EntityDefinitions(…)/Attributes[(…)]``          ``handlers.attribute_metadata``
``GET /EntityDefinitions(…)/Attributes…/<cast>``       ``handlers.typed_attributes``
``GET /EntityDefinitions[(…)][/Keys|/…Relationships]``  ``handlers.entity_definitions``
``GET /InitializeFrom(…)``                              ``handlers.initialize_from``
``GET /RetrieveTotalRecordCount(EntityNames=[…])``      ``handlers.record_count``
=====================================================  ========================================

A new endpoint is one handler module and one line in :data:`SERVICE_ROUTES` (a first path
segment), :data:`PATH_ROUTES` (a path test), :data:`COLLECTION_READS` (a special kind of
``GET /<set>``), :data:`COLLECTION_ROUTES` / :data:`RECORD_ROUTES` (a method on an entity set
or a record), or in the action registries of :mod:`~d365leads.fake.handlers.actions`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from urllib.parse import unquote

from ..core.fault import (
    CODE_BAD_QUERY,
    FakeFault,
    bad_request,
    method_not_allowed,
    not_found,
    not_implemented,
    resource_not_found,
)
from ..handlers import (
    actions,
    attribute_metadata,
    crud,
    delta,
    entity_definitions,
    fetch,
    initialize_from,
    properties,
    query,
    record_count,
    service,
    status_metadata,
    typed_attributes,
)
from ..handlers.actions import ActionExecutor
from ..handlers.bypass import check_bypass
from ..handlers.context import RequestContext
from ..org.bulk_delete import DueJobs
from ..org.plugins import custom_logic_bypassed
from ..org.schema import Table
from ..org.state import OrgState
from ..org.values import KeySpec, parse_key, resolve_key
from ..wire.errors import fault_response
from ..wire.messages import API_PATH, FakeRequest, FakeResponse, Handler
from ..wire.query_options import check_parameter

__all__ = [
    "ACTION_PREFIX",
    "COLLECTION_READS",
    "COLLECTION_ROUTES",
    "PATH_ROUTES",
    "RECORD_ROUTES",
    "SERVICE_ROUTES",
    "Router",
    "split_segments",
]

ServiceHandler = Callable[[RequestContext], FakeResponse]
CollectionHandler = Callable[[RequestContext, Table], FakeResponse]
RecordHandler = Callable[[RequestContext, Table, KeySpec], FakeResponse]

ACTION_PREFIX = "Microsoft.Dynamics.CRM."
_SEGMENT_RE = re.compile(r"^(?P<name>[^()]+)(?:\((?P<key>.*)\))?$", re.DOTALL)
# Dataverse resources the fake recognises but does not implement (answer 501, not 404).
_KNOWN_UNSUPPORTED = {
    "$metadata": "the $metadata document",
    "GlobalOptionSetDefinitions": "global option set metadata",
    "RelationshipDefinitions": "relationship metadata",
    "RetrieveVersion": "the RetrieveVersion function",
    "businessunits": "the businessunit table",
    "teams": "the team table",
    "tasks": "the task table",
    "annotations": "the annotation (note) table",
    "activitypointers": "activities",
    "SetState": "the deprecated SetState message (PATCH statecode/statuscode instead)",
}


COLLECTION_READS: tuple[tuple[Callable[[FakeRequest], bool], CollectionHandler], ...] = (
    (delta.is_tracked_request, delta.handle_delta),
    (fetch.is_fetch_request, fetch.handle_fetch),
)
"""Special reads of ``GET /<set>``, ``(test of the request, handler)`` tried in order before
the plain query (change tracking; a FetchXML or saved-view read goes here too)."""


def _read_collection(ctx: RequestContext, meta: Table) -> FakeResponse:
    for matches, handler in COLLECTION_READS:
        if matches(ctx.request):
            return handler(ctx, meta)
    return query.handle_collection(ctx, meta)


def _count(ctx: RequestContext, meta: Table) -> FakeResponse:
    if ctx.request.query_value("$deltatoken") is not None:
        raise not_implemented("$count of a change-tracking delta")
    return query.handle_count(ctx, meta)


SERVICE_ROUTES: Mapping[str, ServiceHandler] = MappingProxyType(
    {
        "WhoAmI": service.handle_whoami,
        "WhoAmI()": service.handle_whoami,
    }
)
"""Handlers by first path segment (``$batch`` is added by :class:`Router`)."""

PATH_ROUTES: tuple[tuple[Callable[[str], bool], ServiceHandler], ...] = (
    (attribute_metadata.is_attributes_path, attribute_metadata.handle_attribute_definitions),
    (status_metadata.is_status_path, status_metadata.handle_status_metadata),
    (typed_attributes.is_typed_attributes_path, typed_attributes.handle_typed_attributes),
    (entity_definitions.is_entity_definitions_path, entity_definitions.handle_entity_definitions),
    (initialize_from.is_initialize_from_path, initialize_from.handle_initialize_from),
    (record_count.is_record_count_path, record_count.handle_record_count),
)
"""``(test of the decoded path after /api/data/v9.2/, handler)``, tried in order."""

COLLECTION_ROUTES: Mapping[str, Mapping[str, CollectionHandler]] = MappingProxyType(
    {
        "": MappingProxyType({"GET": _read_collection, "POST": crud.handle_create}),
        "$count": MappingProxyType({"GET": _count}),
    }
)
"""Handlers of ``/<set>`` and ``/<set>/<segment>`` by segment, then method."""

RECORD_ROUTES: Mapping[str, RecordHandler] = MappingProxyType(
    {"GET": crud.handle_retrieve, "PATCH": crud.handle_patch, "DELETE": crud.handle_delete}
)
"""Handlers of ``/<set>(<key>)`` by method (paths below a record: ``handlers.properties``)."""


def _bypasses_custom_logic(request: FakeRequest) -> bool:
    legacy = (request.header("MSCRM.BypassCustomPluginExecution") or "").strip().lower()
    groups = (request.header("MSCRM.BypassBusinessLogicExecution") or "").split(",")
    return legacy == "true" or "customsync" in {g.strip().lower() for g in groups}


def split_segments(request: FakeRequest) -> list[str]:
    """Path segments after ``/api/data/v9.2/``, each percent-decoded on its own.

    Splitting before decoding keeps a ``/`` inside an alternate-key value in its segment.
    """
    raw = request.raw_path
    index = raw.find(API_PATH)
    rest = raw[index + len(API_PATH) :] if index >= 0 else ""
    return [unquote(s) for s in rest.split("/") if s != ""]


class Router:
    """Answers one Web API request of ``org`` from the routing tables (no middleware).

    ``batch`` runs ``$batch`` requests; :attr:`bound_actions` and :attr:`unbound_actions` are
    this org's action registries (start from ``handlers.actions``; tests may add executors).
    """

    def __init__(self, org: OrgState, batch: Handler) -> None:
        self.org = org
        self.batch = batch
        self.bound_actions: dict[tuple[str, str], ActionExecutor] = dict(actions.BOUND_ACTIONS)
        self.unbound_actions: dict[str, ActionExecutor] = dict(actions.UNBOUND_ACTIONS)
        self._due_jobs = DueJobs()

    def __repr__(self) -> str:
        return f"Router({self.org.org_url!r})"

    def __call__(self, request: FakeRequest) -> FakeResponse:
        """Answer one request (a ``FakeFault`` becomes its error response)."""
        request.json_reader = self.org.options.json_reader
        try:
            with custom_logic_bypassed(_bypasses_custom_logic(request)):
                return self._route(RequestContext(self.org, request))
        except FakeFault as fault:
            return fault_response(fault, request)

    def _route(self, ctx: RequestContext) -> FakeResponse:
        request = ctx.request
        if not request.is_api:
            raise resource_not_found(request.raw_path)
        for name, _ in request.query:
            # Every read checks its $ options; a stray parameter is refused on any resource.
            check_parameter(name)
        self._due_jobs.run(self.org)  # system jobs run "in the background", between requests
        check_bypass(ctx)
        segments = split_segments(request)
        if not segments:
            if request.method != "GET":
                raise method_not_allowed(request.method, API_PATH)
            return service.handle_service_document(ctx)
        first = segments[0]
        if first == "$batch":
            return self.batch(request)
        by_segment = SERVICE_ROUTES.get(first)
        if by_segment is not None:
            return by_segment(ctx)
        path = request.path
        for matches, handler in PATH_ROUTES:
            if matches(path):
                return handler(ctx)
        match = _SEGMENT_RE.match(first)
        if match is None:
            raise resource_not_found(first)
        name = match.group("name")
        meta = self.org.schema.table_for_set(name)
        if meta is not None:
            return self._entity(ctx, meta, match.group("key"), segments[1:])
        if name in _KNOWN_UNSUPPORTED or name == "EntityDefinitions":
            raise not_implemented(_KNOWN_UNSUPPORTED.get(name, "this metadata request"))
        short = name.removeprefix(ACTION_PREFIX)
        if len(segments) == 1 and short in self.unbound_actions:
            return self._action(ctx, None, None, name)
        if name[:1].isupper() or name.startswith(ACTION_PREFIX):
            raise not_implemented(f"the action or function '{name}'")
        raise resource_not_found(name)

    def _entity(
        self, ctx: RequestContext, meta: Table, key_text: str | None, rest: list[str]
    ) -> FakeResponse:
        method = ctx.request.method
        if key_text is None:
            if len(rest) == 1 and rest[0].startswith(ACTION_PREFIX):
                return self._action(ctx, meta, None, rest[0])
            segment = rest[0] if len(rest) == 1 else "" if not rest else None
            routes = COLLECTION_ROUTES.get(segment) if segment is not None else None
            if routes is None:
                raise resource_not_found(rest[0])
            handler = routes.get(method)
            if handler is None:
                where = f"{meta.entity_set}/{segment}" if segment else meta.entity_set
                raise method_not_allowed(method, where)
            return handler(ctx, meta)
        key = parse_key(key_text)
        if not rest:
            record_handler = RECORD_ROUTES.get(method)
            if record_handler is None:
                raise method_not_allowed(method, f"{meta.entity_set}({key_text})")
            return record_handler(ctx, meta, key)
        if rest[0].startswith(ACTION_PREFIX):
            if len(rest) > 1:
                raise resource_not_found(rest[1])
            record_id = resolve_key(ctx.org, meta, key)
            if record_id is None:
                raise not_found(meta.logical_name, key if isinstance(key, str) else key_text)
            return self._action(ctx, meta, record_id, rest[0])
        if (meta.logical_name, rest[0]) in self.bound_actions:
            # Bound actions need the namespace; Dataverse answers this exact error without it.
            raise bad_request("Request message has unresolved parameters.", CODE_BAD_QUERY)
        return properties.handle_property(ctx, meta, key, rest)

    def _action(
        self, ctx: RequestContext, meta: Table | None, record_id: str | None, name: str
    ) -> FakeResponse:
        short = name.removeprefix(ACTION_PREFIX)
        if meta is not None:
            executor = self.bound_actions.get((meta.logical_name, short))
            if executor is None:
                raise not_implemented(
                    f"the action or function '{name}' bound to '{meta.entity_set}'"
                )
        else:
            executor = self.unbound_actions.get(short)
            if executor is None:
                raise not_implemented(f"the action or function '{name}'")
        if ctx.request.method != "POST":
            raise method_not_allowed(ctx.request.method, name)
        return executor(ctx.org, ctx.request, record_id)
