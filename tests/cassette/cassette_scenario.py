"""The lead-lifecycle scenario recorded once and replayed: shared by the round-trip tests and
``scripts/record_cassettes.py`` (which records the checked-in cassette with it).

Test data is synthetic where the redactor keeps it (``example.com`` e-mails, ``555-01xx``
phones, company names and subjects); first and last names are always pseudonymised, so
:func:`run_scenario` reports them separately from the values that must replay identically.
"""

from __future__ import annotations

from typing import Any

from d365leads import DataverseClient
from d365leads.models.enums import DisqualifyReason
from d365leads.odata.query import col

SUBJECT_PREFIX = "Cassette lead"
LEADS = [
    {
        "subject": f"{SUBJECT_PREFIX} {n}",
        "firstname": first,
        "lastname": last,
        "companyname": f"Example Freight {n}",
        "emailaddress1": f"{first.lower()}.{last.lower()}@example.com",
        "telephone1": f"555-01{10 + n}",
    }
    for n, (first, last) in enumerate(
        [
            ("Ada", "Lovelace"),
            ("Alan", "Turing"),
            ("Grace", "Hopper"),
            ("Edsger", "Dijkstra"),
            ("Barbara", "Liskov"),
        ]
    )
]
PAGE_SIZE = 2


def run_scenario(client: DataverseClient) -> dict[str, Any]:
    """Create, page, qualify, disqualify, reactivate and batch; return what was observed.

    The returned ``"replayable"`` part must be identical between the live recording and every
    replay; ``"names"`` and ``"identity"`` are pseudonymised by the redactor.
    """
    ids: list[str] = []
    names: list[tuple[str | None, str | None]] = []
    for data in LEADS:
        lead = client.leads.create(data)
        ids.append(str(lead.id))
        names.append((lead.firstname, lead.lastname))
    paged = [
        (str(row.id), row.subject, int(row.statecode) if row.statecode is not None else None)
        for row in client.leads.list(
            col("subject").startswith(SUBJECT_PREFIX),
            select=["leadid", "subject", "statecode"],
            order_by="subject",
            page_size=PAGE_SIZE,
        )
    ]
    qualified = client.leads.qualify(ids[0])
    disqualified = client.leads.disqualify(ids[1], DisqualifyReason.LOST)
    reactivated = client.leads.reactivate(ids[1])

    batch = client.batch()
    with batch.changeset() as changeset:
        changeset.patch(f"leads({ids[2]})", {"subject": f"{SUBJECT_PREFIX} 2 (renamed)"})
    batch.get(f"leads({ids[3]})", params={"$select": "subject,emailaddress1,telephone1"})
    results = batch.execute()
    fetched = results[1].json()

    after = client.leads.get(ids[2], select=["subject"])
    total = sum(1 for _ in client.leads.list(select=["leadid"], page_size=PAGE_SIZE))
    whoami = client.whoami()
    return {
        "replayable": {
            "ids": ids,
            "paged": paged,
            "qualified": {
                "state": int(qualified.lead.statecode or 0),
                "status": int(qualified.lead.statuscode or 0),
                "account": str(qualified.account.id) if qualified.account else None,
                "contact": str(qualified.contact.id) if qualified.contact else None,
                "opportunity": str(qualified.opportunity.id) if qualified.opportunity else None,
            },
            "disqualified": (
                int(disqualified.statecode or 0),
                int(disqualified.statuscode or 0),
            ),
            "reactivated": (int(reactivated.statecode or 0), int(reactivated.statuscode or 0)),
            "batch": [r.status for r in results],
            "batch_get": {
                k: fetched[k] for k in ("leadid", "subject", "emailaddress1", "telephone1")
            },
            "renamed": after.subject,
            "total": total,
        },
        "names": names,
        "identity": {
            "user_id": whoami.user_id,
            "owner": str(reactivated.ownerid.id) if reactivated.ownerid else None,
        },
    }
