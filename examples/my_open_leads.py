"""List My Open Leads: the open leads owned by the signed-in user (from WhoAmI).

Runs against the built-in fake Dataverse unless ``D365_URL`` and credentials are set.

    python examples/my_open_leads.py [max-rows]
"""

from __future__ import annotations

import sys
from itertools import islice

from _connect import connect

from d365leads import Query


def main(argv: list[str]) -> int:
    limit = int(argv[0]) if argv else 10
    with connect() as client:
        me = client.whoami()
        print(f"My Open Leads for user {me.user_id}")
        query = (
            Query()
            .select("fullname", "companyname", "subject", "statuscode", "_ownerid_value")
            .order_by("createdon desc")
        )
        total = 0
        for lead in islice(client.leads.my_open(query, page_size=50), limit):
            total += 1
            status = lead.formatted("statuscode") or lead.statuscode
            print(f"- {lead.fullname} | {lead.companyname or '-'} | {lead.subject} | {status}")
        print(f"Shown: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
