"""Qualify an open lead into an account, a contact and an opportunity.

Runs against the built-in fake Dataverse (demo data, local server, static token) unless
``D365_URL`` and credentials are set, in which case it uses your org (``DataverseClient.from_env``)
and qualifies the lead whose id is given as the first argument.

    python examples/qualify_lead.py               # against the fake
    D365_URL=... python examples/qualify_lead.py <lead-id>
"""

from __future__ import annotations

import sys

from _connect import connect, using_real_org

from d365leads import LeadClosedError, Query, col


def main(argv: list[str]) -> int:
    if using_real_org() and not argv:
        # never pick a lead at random in a real org
        print("usage: qualify_lead.py <lead-id>  (required against a real org)", file=sys.stderr)
        return 2
    with connect() as client:
        if argv:
            lead = client.leads.get(argv[0])
        else:
            candidates = Query("leads").where(col("companyname").is_not_null()).top(1)
            lead = next(client.leads.open(candidates))
        print(f"Qualifying lead {lead.fullname!r} ({lead.companyname}) topic {lead.subject!r}")

        result = client.leads.qualify(lead)

        print(f"Lead is now {result.lead.formatted('statecode') or result.lead.statecode.name}")
        if result.account is not None:
            print(f"Account:     {result.account.name} ({result.account.id})")
        else:
            print("Account:     none created (existing customer, or no company name)")
        if result.contact is not None:
            print(f"Contact:     {result.contact.fullname} ({result.contact.id})")
        if result.opportunity is not None:
            opp = result.opportunity
            customer = opp.formatted("customerid") or (opp.customerid and opp.customerid.id)
            print(f"Opportunity: {opp.name} for customer {customer} ({opp.id})")
            print(f"Originating lead of the opportunity: {opp.originatingleadid}")

        try:
            client.leads.qualify(lead)
        except LeadClosedError as exc:
            print(f"Qualifying it again is refused: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
