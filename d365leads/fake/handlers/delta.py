"""Change tracking: ``Prefer: odata.track-changes`` and ``$deltatoken`` reads.

Wire facts (``dataverse-web-api.md`` §7,
https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems):

* a collection GET with ``Prefer: odata.track-changes`` answers the rows as usual, plus
  ``@odata.deltaLink`` on the last page and ``Preference-Applied: odata.track-changes``;
* following the delta link answers the rows created or changed since (as normal entities), then
  the deletions as ``{"@odata.context": "<root>$metadata#<set>/$deletedEntity", "id": …,
  "reason": "deleted"}``, and a new delta link; ``@odata.context`` ends with ``/$delta``.  A row
  created and deleted between two syncs is reported as deleted;
* ``$filter``, ``$orderby``, ``$expand`` and ``$top`` are refused with
  ``The "<option>" query parameter isn't supported when Change Tracking is enabled.``;
* a token older than the org's retention (``FakeOptions.change_retention_days``, on the fake's
  clock) is refused: "Version stamp associated with the client has expired. Please perform a
  full sync."

Paging (``Prefer: odata.maxpagesize``) works for the initial load and inside a delta: non-last
pages carry ``@odata.nextLink``, the last one the ``@odata.deltaLink`` (UNCONFIRMED for the
Web API).  Every page of one read covers the same range of versions, fixed when the first page
was served, so a row written between two pages is reported by the next delta instead of being
lost.  Tokens are opaque to clients; they look like Dataverse's (``<version>!<UTC time>``).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from ..core.fault import CODE_BAD_QUERY, FakeFault
from ..core.values import Row
from ..org.schema import Table
from ..org.state import OrgState
from ..org.store import Tombstone
from ..wire.messages import FakeRequest, FakeResponse, service_root
from ..wire.odata_eval import parse_select
from ..wire.query_options import parse_page_size
from ..wire.serialize import annotation_filter, context_url, serialize_row
from .context import RequestContext

__all__ = [
    "CODE_EXPIRED_TOKEN",
    "EXPIRED_MESSAGE",
    "decode_token",
    "encode_token",
    "handle_delta",
    "is_tracked_request",
]

CODE_EXPIRED_TOKEN = "0x80044352"
"""Code of an expired delta token (``ExpiredVersionStamp`` in the SDK; Web API UNCONFIRMED)."""
EXPIRED_MESSAGE = (
    "Version stamp associated with the client has expired. Please perform a full sync."
)
CODE_NOT_TRACKED = "0x80040203"
_ALLOWED_OPTIONS = ("$select", "$deltatoken", "$skiptoken")
_TOKEN_TIME = "%m/%d/%Y %H:%M:%S"


def is_tracked_request(request: FakeRequest) -> bool:
    """True for a GET that asks for change tracking (the router sends these here)."""
    if request.method != "GET":
        return False
    if request.query_value("$deltatoken") is not None:
        return True
    return "odata.track-changes" in request.prefer()


def encode_token(version: int, issued: datetime) -> str:
    """A delta token for the changes after ``version`` (``919042!08/22/2017 08:10:44``)."""
    return f"{version}!{issued.astimezone(timezone.utc).strftime(_TOKEN_TIME)}"


def _invalid_token(token: str) -> FakeFault:
    return FakeFault(
        400,
        CODE_BAD_QUERY,
        f"The $deltatoken '{token}' is not valid. Use the @odata.deltaLink of an earlier "
        "response as it was returned, or start a full sync with Prefer: odata.track-changes.",
    )


def decode_token(token: str) -> tuple[int, datetime]:
    """``(version, issued)`` of a token made by :func:`encode_token`; 400 when malformed."""
    version_text, sep, time_text = token.partition("!")
    try:
        if not sep:
            raise ValueError(token)
        version = int(version_text)
        issued = datetime.strptime(time_text, _TOKEN_TIME).replace(tzinfo=timezone.utc)
    except ValueError:
        raise _invalid_token(token) from None
    if version < 0:
        raise _invalid_token(token)
    return version, issued


# A page cursor: which versions the read covers and where the previous page stopped.
# phase "initial" = current rows only; "rows"/"deleted" = the two halves of a delta.
_Cursor = dict[str, Any]


def _encode_cursor(cursor: _Cursor) -> str:
    raw = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(text: str) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cursor = json.loads(raw.decode("utf-8"))
        if not isinstance(cursor, dict) or cursor.get("phase") not in (
            "initial",
            "rows",
            "deleted",
        ):
            raise ValueError(text)
        for name in ("from", "to", "after"):
            if not isinstance(cursor.get(name), int):
                raise ValueError(text)
    except ValueError:
        raise FakeFault(
            400,
            CODE_BAD_QUERY,
            "The $skiptoken of this change-tracking read is not valid; follow the "
            "@odata.nextLink exactly as it was returned.",
        ) from None
    return cursor


def _refuse_options(request: FakeRequest, status: int) -> None:
    for name, _ in request.query:
        if name.startswith("$") and name not in _ALLOWED_OPTIONS:
            raise FakeFault(
                status,
                CODE_BAD_QUERY,
                f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.',
            )


def _link(root: str, meta: Table, select_text: str | None, **params: str) -> str:
    query = []
    if select_text is not None:
        query.append(f"$select={quote(select_text, safe=',_')}")
    query.extend(f"${name}={quote(value, safe='')}" for name, value in params.items())
    return f"{root}{meta.entity_set}?{'&'.join(query)}"


def handle_delta(ctx: RequestContext, meta: Table) -> FakeResponse:
    """Answer a tracked collection read of ``meta`` (see the module docstring)."""
    org, request = ctx.org, ctx.request
    options = org.options
    if request.method != "GET":
        raise FakeFault(
            405, CODE_BAD_QUERY, f"Change tracking reads use GET, not {request.method}."
        )
    if meta.logical_name not in options.change_tracking_tables:
        # Wording UNCONFIRMED (dataverse-web-api.md §7): the platform's exact error is unknown.
        raise FakeFault(
            400,
            CODE_NOT_TRACKED,
            f"Change tracking is not enabled for the entity '{meta.logical_name}'. Enable "
            "ChangeTrackingEnabled on the table, or read it without Prefer: odata.track-changes.",
        )
    _refuse_options(request, options.delta_unsupported_option_status)
    select_text = request.query_value("$select")
    select: list[str] | None = None
    context_names: list[str] | None = None
    if select_text is not None:
        select = parse_select(select_text, meta)
        context_names = []
        for name in select:
            column = meta.column(name)
            context_names.append(column.value_property if column is not None else name)
    annotations_value = request.prefer().get("odata.include-annotations")
    annotations = annotation_filter(annotations_value)
    size, size_applied = parse_page_size(request, options.max_page_size)
    store = org.store
    now = store.now()
    token = request.query_value("$deltatoken")
    skiptoken = request.query_value("$skiptoken")

    since = 0
    if token is not None:
        since, issued = decode_token(token)
        if since > store.version:
            raise _invalid_token(token)
        if now - issued > timedelta(days=options.change_retention_days):
            raise FakeFault(options.delta_expired_status, CODE_EXPIRED_TOKEN, EXPIRED_MESSAGE)
    if skiptoken is not None:
        cursor = _decode_cursor(skiptoken)
        if token is None or cursor["from"] != since:
            raise FakeFault(
                400,
                CODE_BAD_QUERY,
                "The $skiptoken does not belong to this $deltatoken; follow the "
                "@odata.nextLink exactly as it was returned.",
            )
    elif token is None:
        cursor = {"phase": "initial", "from": 0, "to": store.version, "after": 0}
    else:
        cursor = {"phase": "rows", "from": since, "to": store.version, "after": 0}

    root = service_root(request)
    entries, next_cursor = _page(org, meta, cursor, size, select, annotations, root)
    is_delta = cursor["phase"] != "initial"
    payload: dict[str, Any] = {
        "@odata.context": context_url(root, meta, context_names, entity=False)
        + ("/$delta" if is_delta else ""),
        "value": entries,
    }
    if next_cursor is not None:
        # A $deltatoken rides along so the router keeps sending the next page here; an initial
        # load's pages carry the version-0 token (its cursor holds the real range).
        payload["@odata.nextLink"] = _link(
            root,
            meta,
            select_text,
            deltatoken=token if token is not None else encode_token(0, now),
            skiptoken=_encode_cursor(next_cursor),
        )
    else:
        payload["@odata.deltaLink"] = _link(
            root, meta, select_text, deltatoken=encode_token(cursor["to"], now)
        )
    applied = ["odata.track-changes", *size_applied]
    if annotations_value is not None:
        applied.append(f'odata.include-annotations="{annotations_value}"')
    return FakeResponse.json_body(200, payload, {"Preference-Applied": ",".join(applied)})


def _page(
    org: OrgState,
    meta: Table,
    cursor: _Cursor,
    size: int,
    select: list[str] | None,
    annotations: Any,
    root: str,
) -> tuple[list[dict[str, Any]], _Cursor | None]:
    """One page of entries from ``cursor`` and the cursor of the next page (``None`` = last)."""
    store = org.store
    name = meta.logical_name
    low, high = int(cursor["from"]), int(cursor["to"])
    phase = cursor["phase"]
    after = int(cursor["after"])
    rows: list[Row] = []
    deleted: list[Tombstone] = []
    with store.lock:
        # Only what this page can still send, read together: the rows after the cursor, then
        # (for a delta whose rows fit) the deletes.
        if phase != "deleted":
            rows = store.rows_between(name, max(low, after), high, limit=size + 1)
            after = 0
        if phase != "initial" and len(rows) <= size:
            # A row deleted and then created again (same id, later version) is not reported
            # deleted.
            for tombstone in store.tombstones:
                if tombstone.table != name or not max(low, after) < tombstone.version <= high:
                    continue
                current = store.get(name, tombstone.id)
                if current is None or int(current["versionnumber"]) < tombstone.version:
                    deleted.append(tombstone)
    entries = [
        serialize_row(
            meta, row, select=select, annotations=annotations, resolve_name=org.primary_name
        )
        for row in rows[:size]
    ]
    if len(rows) > size:
        return entries, {**cursor, "after": int(rows[size - 1]["versionnumber"])}
    if phase == "initial":
        return entries, None
    room = size - len(entries)
    for tombstone in deleted[:room]:
        entries.append(
            {
                "@odata.context": f"{root}$metadata#{meta.entity_set}/$deletedEntity",
                "id": tombstone.id,
                "reason": "deleted",
            }
        )
    if len(deleted) > room:
        last = deleted[room - 1].version if room > 0 else after
        return entries, {**cursor, "phase": "deleted", "after": last}
    return entries, None
