"""``leads show ID --related``: the records linked to a lead, in both directions.

From the lead: its ``parentaccountid``, ``parentcontactid``, ``customerid`` and
``qualifyingopportunityid`` lookups. Towards the lead: accounts, contacts and opportunities
whose ``originatingleadid`` is the lead (what QualifyLead sets on the records it creates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from d365leads.cli.present import lookup_text, status_label
from d365leads.errors import NotFoundError
from d365leads.models import DataverseModel, Lead

if TYPE_CHECKING:
    from d365leads.client import DataverseClient

__all__ = ["LEAD_LINKS", "RELATED_COLUMNS", "related_rows"]

#: Lookups on the lead that point at the sales chain.
LEAD_LINKS = ("parentaccountid", "parentcontactid", "customerid", "qualifyingopportunityid")
RELATED_COLUMNS = ("direction", "column", "table", "id", "name", "status")
_RESOURCES = {"account": "accounts", "contact": "contacts", "opportunity": "opportunities"}


def _row(
    direction: str, column: str, table: str, record: DataverseModel | None, ref: Any
) -> dict[str, Any]:
    name = getattr(record, record.primary_name, None) if record is not None else None
    return {
        "direction": direction,
        "column": column,
        "table": table,
        "id": record.id if record is not None else ref.id,
        "name": name if name is not None else lookup_text(ref),
        "status": status_label(record) if record is not None else "(not found)",
    }


def related_rows(client: DataverseClient, lead: Lead) -> list[dict[str, Any]]:
    """One row per link: ``direction`` is ``lead ->`` for the lead's own lookups and
    ``-> lead`` for records that name the lead as their originating lead."""
    rows: list[dict[str, Any]] = []
    for column in LEAD_LINKS:
        ref = lead.lookup(column)
        if ref is None or ref.table not in _RESOURCES:
            continue
        resource = getattr(client, _RESOURCES[ref.table])
        try:
            record = resource.get(ref.id)
        except NotFoundError:  # a dangling lookup is still worth showing
            record = None
        rows.append(_row("lead ->", column, ref.table, record, ref))
    for table, attribute in _RESOURCES.items():
        resource = getattr(client, attribute)
        for record in resource.list(f"_originatingleadid_value eq {lead.id}"):
            rows.append(_row("-> lead", "originatingleadid", table, record, None))
    return rows
