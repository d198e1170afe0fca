"""Matching valid rows to existing leads and deciding create, update, upsert or reopen."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from uuid import UUID

from d365leads.http.pipeline import ApiSession
from d365leads.metadata import AttributeInfo
from d365leads.models import LeadState
from d365leads.odata.literals import literal
from d365leads.sync.push.results import RowError
from d365leads.sync.push.validation import CsvRow
from d365leads.sync.tables import LEAD

__all__ = ["plan_rows"]

_STATE_LABELS = {s.value: s.name.title() for s in LeadState}


def _leads_where(
    session: ApiSession, column: str, values: Iterable[Any], select: str
) -> Iterator[dict[str, Any]]:
    """The leads whose ``column`` equals one of ``values`` (25 values per request)."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), 25):
        flt = " or ".join(f"{column} eq {literal(v)}" for v in unique[start : start + 25])
        for page in session.iter_pages("leads", params={"$select": select, "$filter": flt}):
            yield from page.rows


def _lookup(
    session: ApiSession, match_on: str, values: list[str]
) -> dict[str, list[tuple[str, int]]]:
    """``{lower-case value: [(leadid, statecode), ...]}`` for the leads matching ``values``."""
    found: dict[str, list[tuple[str, int]]] = {}
    for row in _leads_where(session, match_on, values, f"leadid,statecode,{match_on}"):
        value = row.get(match_on)
        if value is None:
            continue
        found.setdefault(str(value).lower(), []).append(
            (str(row["leadid"]).lower(), int(row.get("statecode") or 0))
        )
    return found


def _states_by_id(session: ApiSession, ids: list[str]) -> dict[str, int]:
    rows = _leads_where(session, "leadid", [UUID(i) for i in ids], "leadid,statecode")
    return {str(row["leadid"]).lower(): int(row.get("statecode") or 0) for row in rows}


def _check_org_columns(row: CsvRow, tenant: Mapping[str, AttributeInfo]) -> None:
    """Flag org columns the org does not let this row's create or update set."""
    creating = row.action == "create" or (row.action == "upsert" and row.lead_id is None)
    for name in row.tenant:
        attr = tenant[name]
        if creating and not attr.valid_for_create:
            row.errors.append(
                RowError(
                    row.line,
                    name,
                    "the org does not allow setting it when a lead is created; leave it empty "
                    "for new leads and set it in a second push",
                )
            )
        elif not creating and not attr.valid_for_update:
            row.errors.append(
                RowError(
                    row.line,
                    name,
                    "the org does not allow changing it on an existing lead; leave it empty "
                    "for rows that update",
                )
            )


def plan_rows(
    session: ApiSession,
    rows: list[CsvRow],
    match_on: str,
    alternate_key: bool,
    tenant: Mapping[str, AttributeInfo] | None = None,
) -> None:
    """Decide create/update per valid row and flag what cannot be written."""
    valid = [r for r in rows if not r.errors]
    by_id = _states_by_id(session, [r.lead_id for r in valid if r.lead_id])
    matches = _lookup(
        session, match_on, [r.match for r in valid if r.lead_id is None and r.match is not None]
    )
    for row in valid:
        if row.lead_id is not None:
            state = by_id.get(row.lead_id)
            row.action = "update" if state is not None else "create"
            if row.action == "create":
                row.body["leadid"] = row.lead_id
        else:
            hits = matches.get((row.match or "").lower(), [])
            if len(hits) > 1:
                ids = ", ".join(h[0] for h in hits[:5])
                row.errors.append(
                    RowError(
                        row.line,
                        match_on,
                        f"{row.match!r} matches {len(hits)} leads ({ids}); "
                        "add a leadid column to say which one",
                    )
                )
                continue
            state = hits[0][1] if hits else None
            row.lead_id = hits[0][0] if hits else None
            if alternate_key:
                row.action = "upsert"
            else:
                row.action = "update" if hits else "create"
        if row.tenant and tenant:
            _check_org_columns(row, tenant)
        if state is None and row.new_status is not None and LEAD.statuses[row.new_status][0]:
            label = LEAD.statuses[row.new_status][1]
            row.errors.append(
                RowError(
                    row.line,
                    "statuscode",
                    f"a new lead starts Open (New or Contacted); {label!r} belongs to "
                    f"{_STATE_LABELS[LEAD.statuses[row.new_status][0]]}",
                )
            )
        elif state is not None and state != 0 and not row.status_only:
            reopening = row.new_status is not None and LEAD.statuses[row.new_status][0] == 0
            # Dataverse refuses edits of an inactive lead: reactivate first, then edit, as one
            # atomic changeset so the row never ends half-applied.
            row.reopen = reopening
            if not reopening:
                row.errors.append(
                    RowError(
                        row.line,
                        None,
                        f"lead {row.lead_id} is {_STATE_LABELS.get(state, state)}: closed leads "
                        "cannot be edited; reactivate it (statuscode New or Contacted) first",
                    )
                )
