"""WinOpportunity / LoseOpportunity as a function over the store: close an open opportunity.

The opportunity takes the Won (1) or Lost (2) state with the given status reason and an
``opportunityclose`` activity is recorded (Completed) with the close details.  This is the only
write that changes an opportunity's state to Won/Lost: a PATCH doing so is refused by
:mod:`~d365leads.fake.org.transitions`.  All checks run before the first write, inside
``store.transaction()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.fault import CODE_INVALID_ARGUMENT, bad_request, not_found
from ..core.values import Row, format_datetime
from . import records
from .state import OrgState
from .states import check_pair, default_status
from .values import CODE_PAYLOAD, attributes_from_body

__all__ = ["close_opportunity"]


def close_opportunity(
    org: OrgState, action: str, state: int, status: int, close: Mapping[str, Any]
) -> None:
    """Close the opportunity that ``close`` (an ``OpportunityClose`` body) binds, as ``state``
    with ``status``; ``action`` names the message in errors."""
    options = org.options
    opp_meta = org.schema.table("opportunity")
    close_meta = org.schema.table("opportunityclose")
    with org.store.transaction():
        attrs = attributes_from_body(org, close_meta, dict(close))
        opportunity_id = attrs.get("opportunityid")
        if not opportunity_id:
            raise bad_request(
                f"{action}: OpportunityClose must name the opportunity with "
                '"opportunityid@odata.bind": "/opportunities(<id>)".',
                CODE_PAYLOAD,
            )
        opportunity = org.store.get("opportunity", str(opportunity_id))
        if opportunity is None:
            raise not_found("opportunity", str(opportunity_id))
        if opportunity.get("statecode") != 0:
            current = opp_meta.state(int(opportunity.get("statecode") or 0))
            raise bad_request(
                f"The opportunity with Id {opportunity_id} is already closed "
                f"({current.label if current else opportunity.get('statecode')}); reopen it "
                "(PATCH statecode 0) before closing it again.",
                CODE_INVALID_ARGUMENT,
            )
        check_pair(opp_meta, state, status, options, str(opportunity_id))
        if attrs.get("transactioncurrencyid") is None and opportunity.get("transactioncurrencyid"):
            attrs["transactioncurrencyid"] = opportunity["transactioncurrencyid"]
        close_row = records.create_record(org, close_meta, attrs)
        org.store.update(
            "opportunityclose",
            close_row["activityid"],
            {"statecode": 1, "statuscode": default_status(close_meta, 1, options)},
            actor=org.caller_id,
        )
        changes: Row = {"statecode": state, "statuscode": status}
        if attrs.get("actualrevenue") is not None:
            changes["actualvalue"] = attrs["actualrevenue"]
        actual_end = attrs.get("actualend")
        changes["actualclosedate"] = actual_end or format_datetime(org.store.now())[:10]
        # The state change itself is what this message is for; rules refuse it as a PATCH.
        org.store.update("opportunity", str(opportunity_id), changes, actor=org.caller_id)
