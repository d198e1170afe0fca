"""FetchXML and saved views on an entity set: ``GET /<set>?fetchXml=``, ``?savedQuery=<id>``,
``?userQuery=<id>``, answered by the fake's own FetchXML engine (:mod:`~d365leads.fake.fetchxml`).

The page has the Web API's shape: rows keyed by logical name, lookups of the queried table as
``_<name>_value``, link-entity columns as ``alias.column``, aggregate aliases, null values left
out, formatted values under ``Prefer: odata.include-annotations``, and while more rows follow
``@Microsoft.Dynamics.CRM.morerecords`` with the ``@Microsoft.Dynamics.CRM.fetchxmlpagingcookie``
to ask for the next page with
(https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results).
A saved view runs its stored FetchXML
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/retrieve-and-execute-predefined-queries).
Engine errors keep Dataverse's code and message; a FetchXML feature the engine lacks is a 501
that names it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ..core.fault import CODE_BAD_QUERY, FakeFault, bad_request, not_found, not_implemented
from ..core.values import format_datetime, normalize_id
from ..fetchxml import FetchResult, FetchXmlError, FetchXmlUnsupported, ResultColumn, evaluate
from ..org.fetch_source import OrgFetchSource
from ..org.schema import Column, Table
from ..org.state import OrgState
from ..wire.display import formatted_value
from ..wire.messages import FakeRequest, FakeResponse, service_root
from ..wire.query_options import PREDEFINED_QUERY_OPTIONS, annotation_preference
from ..wire.serialize import (
    FORMATTED,
    LOOKUP_LOGICAL_NAME,
    NAVIGATION_PROPERTY,
    AnnotationFilter,
)
from .context import RequestContext

__all__ = ["handle_fetch", "is_fetch_request"]

MORE_RECORDS = "Microsoft.Dynamics.CRM.morerecords"
PAGING_COOKIE = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
_VIEW_TABLES = {"savedQuery": "savedquery", "userQuery": "userquery"}


def is_fetch_request(request: FakeRequest) -> bool:
    """Whether ``GET /<set>`` names a FetchXML query or a saved view."""
    return any(request.query_value(name) is not None for name in PREDEFINED_QUERY_OPTIONS)


def handle_fetch(ctx: RequestContext, meta: Table) -> FakeResponse:
    """Run the request's FetchXML (or view) against ``meta`` and answer one page."""
    org, request = ctx.org, ctx.request
    given = [name for name in PREDEFINED_QUERY_OPTIONS if request.query_value(name) is not None]
    if len(given) > 1:
        raise bad_request(
            f"The query options {', '.join(given)} cannot be combined: use one.", CODE_BAD_QUERY
        )
    for name, _ in request.query:
        if name.startswith("$"):
            raise bad_request(
                f"The query parameter {name} cannot be combined with {given[0]}.", CODE_BAD_QUERY
            )
    (option,) = given
    value = request.query_value(option) or ""
    xml = value if option == "fetchXml" else _view_fetchxml(org, option, value, meta)
    if not xml.strip():
        raise bad_request(f"The query option {option} is empty.", CODE_BAD_QUERY)
    try:
        result = evaluate(xml, OrgFetchSource(org, ctx.caller_id))
    except FetchXmlUnsupported as exc:
        raise not_implemented(f"FetchXML {exc.feature}") from None
    except FetchXmlError as exc:
        raise FakeFault(exc.status, exc.code, exc.message) from None
    if result.entity != meta.logical_name:
        raise bad_request(
            f"The entity '{result.entity}' of the FetchXML does not match the entity set "
            f"'{meta.entity_set}' (entity '{meta.logical_name}').",
            CODE_BAD_QUERY,
        )
    return _page(org, request, meta, result)


def _view_fetchxml(org: OrgState, option: str, value: str, meta: Table) -> str:
    table = _VIEW_TABLES[option]
    try:
        view_id = normalize_id(value.strip())
    except ValueError:
        raise bad_request(
            f"The value '{value}' of {option} is not a valid GUID.", CODE_BAD_QUERY
        ) from None
    row = org.store.get(table, view_id)
    if row is None:
        raise not_found(table, view_id)
    if str(row.get("returnedtypecode") or "") != meta.logical_name:
        raise bad_request(
            f"The {table} {view_id} returns '{row.get('returnedtypecode')}' rows, not rows of "
            f"'{meta.entity_set}'.",
            CODE_BAD_QUERY,
        )
    return str(row.get("fetchxml") or "")


def _page(org: OrgState, request: FakeRequest, meta: Table, result: FetchResult) -> FakeResponse:
    annotations, applied = annotation_preference(request)
    main = [c for c in result.columns.values() if not c.scope and c.aggregate is None]
    names = [_wire_key(org, c) for c in main if c.key == c.column]
    if org.options.fetchxml_context == "primary_attributes":
        # The "Use FetchXml with Web API" page prints (accountid,name) for a fetch of three
        # attributes; other fetch answers list more (UNCONFIRMED, see SUPPORTED.md).
        names = [n for n in names if n in (meta.primary_key, meta.primary_name)]
    root = service_root(request)
    selected = f"({','.join(names)})" if names else ""
    body: dict[str, Any] = {"@odata.context": f"{root}$metadata#{meta.entity_set}{selected}"}
    asked = org.options.fetchxml_paging_annotations == "always" or annotations is not None
    # A last page carries neither annotation (the documented answers show none).
    if result.more_records and asked:
        wanted = annotations or (lambda name: True)
        if wanted(PAGING_COOKIE) and result.paging_cookie is not None:
            body[f"@{PAGING_COOKIE}"] = result.paging_cookie
        if wanted(MORE_RECORDS):
            body[f"@{MORE_RECORDS}"] = True
    etags = (
        not any(c.aggregate is not None for c in result.columns.values())
        and meta.primary_key in result.columns
    )
    body["value"] = [_row(org, meta, result, row, annotations, etags) for row in result.rows]
    headers = {"Preference-Applied": ",".join(applied)} if applied else {}
    return FakeResponse.json_body(200, body, headers)


def _wire_key(org: OrgState, column: ResultColumn) -> str:
    found = _column(org, column)
    if found is not None and found.is_lookup and column.key == column.column and not column.scope:
        return found.value_property
    return column.key


def _column(org: OrgState, column: ResultColumn) -> Column | None:
    table = org.schema.tables.get(column.table)
    return None if table is None or column.aggregate is not None else table.column(column.column)


def _row(
    org: OrgState,
    meta: Table,
    result: FetchResult,
    row: dict[str, Any],
    annotations: AnnotationFilter | None,
    etags: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if etags:
        stored = org.store.get(meta.logical_name, str(row.get(meta.primary_key, "")))
        if stored is not None:
            out["@odata.etag"] = f'W/"{stored["versionnumber"]}"'
    for key, value in row.items():
        spec = result.columns[key]
        column = _column(org, spec)
        prop = _wire_key(org, spec)
        value = _json_value(value)
        out[prop] = value
        if annotations is None or column is None:
            continue
        if column.is_lookup:
            target = column.targets[0] if column.targets else None
            if column.is_polymorphic:
                target = _lookup_target(org, spec, row, column, target)
            if target is None:
                continue
            if annotations(FORMATTED):
                label = org.primary_name(target, str(value))
                if label is not None:
                    out[f"{prop}@{FORMATTED}"] = label
            if not spec.scope and annotations(NAVIGATION_PROPERTY):
                out[f"{prop}@{NAVIGATION_PROPERTY}"] = column.navigation.get(target, column.name)
            if annotations(LOOKUP_LOGICAL_NAME):
                out[f"{prop}@{LOOKUP_LOGICAL_NAME}"] = target
        elif annotations(FORMATTED):
            text = formatted_value(column, value)
            if text is not None:
                out[f"{prop}@{FORMATTED}"] = text
    return out


def _json_value(value: Any) -> Any:
    # Aggregates compute in Decimal and may return datetimes; the wire has numbers and text.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    return value


def _lookup_target(
    org: OrgState, spec: ResultColumn, row: dict[str, Any], column: Column, default: str | None
) -> str | None:
    # The page holds no companion attribute (customeridtype): find the row among the targets.
    for target in column.targets:
        if org.store.exists(target, str(row[spec.key])):
            return target
    return default
