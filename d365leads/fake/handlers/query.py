"""Collection reads: ``GET /leads?…`` and ``GET /leads/$count``.

Supported: ``$select``, ``$filter`` (:mod:`~d365leads.fake.wire.odata_eval`), ``$orderby``,
``$top``, ``$count`` (``@odata.count`` capped at ``max_count``;
``Microsoft.Dynamics.CRM.totalrecordcount`` and ``…limitexceeded`` annotations when asked for),
``$expand`` (:mod:`~d365leads.fake.wire.query_options`), parameter aliases (``@p1``), and
paging: ``Prefer: odata.maxpagesize=N`` (at most 5000, echoed in ``Preference-Applied``; larger
values are ignored like the service) with an ``@odata.nextLink`` whose ``$skiptoken`` is a
cookie-shaped keyset token (:mod:`~d365leads.fake.wire.paging`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from ..core.fault import CODE_BAD_QUERY, bad_request
from ..core.values import Row
from ..org.schema import Relationship, Table
from ..org.state import OrgState
from ..wire import odata_eval
from ..wire.messages import FakeRequest, FakeResponse, service_root
from ..wire.paging import decode_skiptoken, encode_skiptoken, next_link
from ..wire.query_options import (
    COLLECTION_OPTIONS,
    aliases,
    annotation_preference,
    check_options,
    nests_collection,
    parse_page_size,
    select_expand,
)
from ..wire.serialize import context_url
from ._common import related_rows, render_entity
from .context import RequestContext
from .expansion import RelatedIndex, context_names
from .query_cache import CachedQuery, cache_of, clock_dependent
from .row_texts import page_texts

__all__ = ["handle_collection", "handle_count", "query_env"]


def query_env(org: OrgState) -> odata_eval.QueryEnv:
    """What ``$filter`` functions, lookup paths and lookup ordering read from the org."""

    def table_of(logical: str) -> Table | None:
        try:
            return org.schema.table(logical)
        except KeyError:
            return None

    return odata_eval.QueryEnv(
        now=org.clock(),
        user_id=org.caller_id,
        business_unit_id=org.business_unit_id,
        table_of=table_of,
        resolve=lambda logical, record_id: org.store.get(logical, record_id),
        relationship=org.schema.relationship,
        related=lambda relationship, row: _related(org, relationship, row),
    )


def _related(org: OrgState, relationship: Relationship, row: Mapping[str, Any]) -> list[Row]:
    referenced = org.schema.table(relationship.referenced)
    referencing = org.schema.table(relationship.referencing)
    record_id = str(row[referenced.primary_key])
    return related_rows(org, referenced, record_id, referencing, relationship.column)


def _matching_rows(
    org: OrgState,
    request: FakeRequest,
    meta: Table,
    base: list[Row] | None = None,
) -> tuple[list[Row], list[tuple[str, bool]]]:
    rows = org.store.rows(meta.logical_name) if base is None else base
    env = query_env(org)
    filter_text = request.query_value("$filter")
    if filter_text is not None:
        predicate = odata_eval.compile_filter(
            filter_text,
            meta,
            aliases(request),
            accept_quoted_guid=org.options.accept_quoted_guid_in_filter,
            env=env,
        )
        rows = [r for r in rows if predicate(r)]
    orderby_text = request.query_value("$orderby")
    keys: list[tuple[str, bool]] = []
    if orderby_text is not None:
        keys = [(k.column, k.descending) for k in odata_eval.parse_orderby(orderby_text, meta)]
    # The primary key breaks ties so pages are stable.
    keys.append((meta.primary_key, False))
    # The rows are already copies (``store.rows`` / the caller's ``base``).
    return odata_eval.sort_rows(rows, keys, meta, env), keys


def handle_collection(
    ctx: RequestContext, meta: Table, base: list[Row] | None = None
) -> FakeResponse:
    """``GET /<entityset>?…``: filter, sort, page and render (``base``: the candidate rows,
    for a collection-valued navigation such as ``accounts(<id>)/contact_customer_accounts``)."""
    org, request = ctx.org, ctx.request
    check_options(request, COLLECTION_OPTIONS)
    options = org.options
    select, expand = select_expand(request, meta, options.max_expand, org.schema, query_env(org))
    top_text = request.query_value("$top")
    top: int | None = None
    if top_text is not None:
        if not top_text.isdigit() or int(top_text) < 1:
            raise bad_request(
                f"Invalid value '{top_text}' for $top: use a positive whole number.",
                CODE_BAD_QUERY,
            )
        top = int(top_text)
    count_text = request.query_value("$count")
    if count_text not in (None, "true", "false"):
        raise bad_request(f"Invalid value '{count_text}' for $count: use true or false.")
    annotations, applied = annotation_preference(request)
    page_size, page_applied = parse_page_size(request, options.max_page_size)
    dropped: frozenset[str] = frozenset()
    if top is not None and page_applied and options.top_with_maxpagesize == "ignore_top":
        # "If you include both, $top is ignored" (page-results doc).
        top, dropped = None, frozenset({"$top"})
    token = request.query_value("$skiptoken")
    state: Hashable | None = None
    if base is None:
        total, chunk, more, page, keys, token_end, state = _cached_window(
            org, request, meta, top, page_size, token
        )
    else:
        total, chunk, more, page, keys = _window(org, request, meta, base, top, page_size, token)
        token_end = None
    root = service_root(request)
    names = context_names(meta, select, expand, entity=False)
    body: dict[str, Any] = {"@odata.context": context_url(root, meta, names, entity=False)}
    if count_text == "true":
        body["@odata.count"] = min(total, options.max_count)
        if annotations is not None:
            if annotations("Microsoft.Dynamics.CRM.totalrecordcount"):
                body["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(total, options.max_count)
            if annotations("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
                body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = (
                    total > options.max_count
                )
    elif annotations is not None:
        # Without $count the total is not computed: the docs show -1 (count-rows page).
        if annotations("Microsoft.Dynamics.CRM.totalrecordcount"):
            body["@Microsoft.Dynamics.CRM.totalrecordcount"] = -1
        if annotations("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
            body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = False
    next_token = encode_skiptoken(page + 1, keys, chunk[0], chunk[-1]) if more and chunk else None
    link = next_link(request, next_token, dropped) if next_token is not None else None
    if expand:
        index = RelatedIndex(org)  # expanded collections read each related table once
        expand_page = page_size if nests_collection(expand) else None
        body["value"] = [
            render_entity(
                org,
                meta,
                r,
                select=select,
                expand=expand,
                annotations=annotations,
                index=index,
                collection_query=True,
                root=root,
                page_size=expand_page,
            )
            for r in chunk
        ]
        if link is not None:
            body["@odata.nextLink"] = link
        text = json.dumps(body)
    else:
        texts = page_texts(org, meta, chunk, select=select, annotations=annotations, state=state)
        text = _page_text(body, texts, link)
    if next_token is not None and token_end is not None:
        token_end(next_token)
    headers: dict[str, str] = {}
    if applied or page_applied:
        headers["Preference-Applied"] = ",".join(applied + page_applied)
    return FakeResponse.json_text(200, text, headers)


def _page_text(head: dict[str, Any], rows: list[str], link: str | None) -> str:
    """``json.dumps`` of ``head`` + ``value`` (+ ``@odata.nextLink``), joined from row texts
    (``head`` is never empty: it holds ``@odata.context``)."""
    tail = "}" if link is None else f', "@odata.nextLink": {json.dumps(link)}}}'
    return f'{json.dumps(head)[:-1]}, "value": [{", ".join(rows)}]{tail}'


_Window = tuple[int, list[Row], bool, int, list[tuple[str, bool]]]


def _window(
    org: OrgState,
    request: FakeRequest,
    meta: Table,
    base: list[Row] | None,
    top: int | None,
    page_size: int,
    token: str | None,
) -> _Window:
    """Evaluate the query and cut the page: (total, page rows, more follow, page number, keys)."""
    rows, keys = _matching_rows(org, request, meta, base)
    total = len(rows)
    if top is not None:
        rows = rows[:top]
    start = _continue_at(org, meta, rows, keys, token)
    page = 1 if token is None else decode_skiptoken(token, keys)[0]
    chunk = rows[start : start + page_size]
    return total, chunk, start + len(chunk) < len(rows), page, keys


def _continue_at(
    org: OrgState, meta: Table, rows: list[Row], keys: list[tuple[str, bool]], token: str | None
) -> int:
    if token is None:
        return 0
    _, last = decode_skiptoken(token, keys)
    # Keyset paging: continue after where the last row sent sorts now (it may be gone).
    marker: Row = dict(last)
    ordered = odata_eval.sort_rows([*rows, marker], keys, meta, query_env(org))
    return next(i for i, r in enumerate(ordered) if r is marker)


def _cached_window(
    org: OrgState,
    request: FakeRequest,
    meta: Table,
    top: int | None,
    page_size: int,
    token: str | None,
) -> tuple[
    int, list[Row], bool, int, list[tuple[str, bool]], Callable[[str], None], tuple[int, int]
]:
    """:func:`_window` through the store's query cache (same answer, see ``query_cache``),
    and the store state the page's rows were read at."""
    store = org.store
    filter_text = request.query_value("$filter")
    alias_map = aliases(request)
    key: Hashable = (
        meta.logical_name,
        filter_text,
        request.query_value("$orderby"),
        tuple(sorted(alias_map.items())),
        org.options.accept_quoted_guid_in_filter,
        org.caller_id,
        org.business_unit_id,
        org.clock() if clock_dependent(filter_text, *alias_map.values()) else None,
    )
    with store.lock:
        cache = cache_of(store)
        state = store.state
        entry = cache.get(key, meta, state)
        rows: list[Row] | None = None
        if entry is None:
            rows, keys = _matching_rows(org, request, meta)
            entry = CachedQuery(meta, state, [r[meta.primary_key] for r in rows], keys)
            cache.put(key, entry)
        keys = entry.keys
        limit = len(entry.ids) if top is None else min(top, len(entry.ids))
        page = 1
        start = 0
        if token is not None:
            page = decode_skiptoken(token, keys)[0]
            known = entry.ends.get(token)
            if known is not None:
                start = known
            else:
                if rows is None:
                    rows = store.rows_by_id(meta.logical_name, entry.ids)
                start = _continue_at(org, meta, rows[:limit], keys, token)
        stop = min(start + page_size, limit)
        if rows is not None:
            chunk = rows[start:stop]
        else:
            chunk = store.rows_by_id(meta.logical_name, entry.ids[start:stop])
    end = start + len(chunk)
    current = entry

    def remember(next_token: str) -> None:
        with store.lock:
            current.remember(next_token, end)

    return len(entry.ids), chunk, end < limit, page, keys, remember, state


def handle_count(ctx: RequestContext, meta: Table) -> FakeResponse:
    """``GET /<entityset>/$count``: the row count as ``text/plain`` (capped like ``$count``)."""
    org, request = ctx.org, ctx.request
    check_options(request, {"$filter"})
    total = len(_matching_rows(org, request, meta)[0])
    return FakeResponse(
        200,
        {"Content-Type": "text/plain", "OData-Version": "4.0"},
        str(min(total, org.options.max_count)).encode(),
    )
