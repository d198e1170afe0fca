"""Disqualify an open lead, show it is kept (read-only) in Closed Leads, then reactivate it.

Runs against the built-in fake Dataverse unless ``D365_URL`` and credentials are set; against a
real org pass the lead id as the first argument.

    python examples/disqualify_and_reactivate.py
    D365_URL=... python examples/disqualify_and_reactivate.py <lead-id>
"""

from __future__ import annotations

import sys

from _connect import connect, using_real_org

from d365leads import (
    DisqualifyReason,
    InactiveRecordError,
    LeadStatus,
    Query,
    col,
)


def main(argv: list[str]) -> int:
    if using_real_org() and not argv:
        # never pick a lead at random in a real org
        print("usage: disqualify_and_reactivate.py <lead-id>", file=sys.stderr)
        return 2
    with connect() as client:
        lead = client.leads.get(argv[0]) if argv else next(client.leads.open(Query().top(1)))
        owner = lead.ownerid
        print(f"Lead {lead.fullname!r}, owner {owner.name if owner else None}")

        client.leads.disqualify(lead, DisqualifyReason.NO_LONGER_INTERESTED)
        closed = client.leads.get(lead.id)
        print(f"Disqualified: {closed.formatted('statecode')} / {closed.formatted('statuscode')}")

        in_view = list(client.leads.closed(col("leadid") == lead.id))
        print(f"Still there in Closed Leads: {len(in_view) == 1}")

        try:
            client.leads.update(lead.id, {"subject": "edited while closed"})
        except InactiveRecordError as exc:
            print(f"Editing it is refused: {exc}")

        client.leads.reactivate(lead, LeadStatus.NEW)
        reopened = client.leads.get(lead.id)
        same_owner = (reopened.ownerid and reopened.ownerid.id) == (owner and owner.id)
        print(
            f"Reactivated: {reopened.formatted('statecode')} / "
            f"{reopened.formatted('statuscode')}, same owner: {same_owner}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
