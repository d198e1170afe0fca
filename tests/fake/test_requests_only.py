"""The fake driven with nothing but ``requests``, like a script written from the Web API docs.

No d365leads client code runs here: if the client and the fake shared a misunderstanding of
the wire format, this test would still catch the fake's side of it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from d365leads.fake import FakeDataverse


@pytest.fixture
def base() -> Iterator[str]:
    fake = FakeDataverse(sleep=lambda seconds: None)
    # Other leads so that finding ours needs a filter and more than one page.
    fake.seed("lead", [{"subject": f"Noise {i}", "lastname": f"N{i}"} for i in range(25)])
    with fake.serve() as server:
        yield server.base_url
    assert fake.errors == []


def test_create_find_qualify_and_follow_the_links(base: str) -> None:
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": "Bearer script-token",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Content-Type": "application/json; charset=utf-8",
        }
    )

    # 1. Create a lead: 204 No Content and the new record's URL in OData-EntityId.
    for i in range(3):
        created = session.post(
            base + "leads",
            json={
                "subject": f"Website inquiry {i}",
                "firstname": "Ana",
                "lastname": f"Lee{i}",
                "companyname": f"Contoso {i}",
                "emailaddress1": f"ana{i}@example.com",
                "telephone1": "555-0100",
            },
            timeout=10,
        )
        assert created.status_code == 204, created.text
    lead_url = created.headers["OData-EntityId"]
    lead_id = lead_url[lead_url.index("(") + 1 : -1]

    # 2. Find it with $filter, two rows per page, following @odata.nextLink to the end.
    url: str | None = (
        base + "leads?$select=subject,fullname,companyname&$filter=startswith(subject,'Website')"
        "&$orderby=subject asc"
    )
    found: list[dict[str, object]] = []
    pages = 0
    while url:
        page = session.get(url, headers={"Prefer": "odata.maxpagesize=2"}, timeout=10)
        assert page.status_code == 200, page.text
        assert page.headers["Preference-Applied"] == "odata.maxpagesize=2"
        body = page.json()
        found.extend(body["value"])
        url = body.get("@odata.nextLink")
        pages += 1
    assert pages == 2
    assert [row["subject"] for row in found] == [f"Website inquiry {i}" for i in range(3)]
    assert found[-1]["leadid"] == lead_id

    # 3. Qualify it: the bound action creates account, contact and opportunity.
    qualified = session.post(
        f"{lead_url}/Microsoft.Dynamics.CRM.QualifyLead",
        json={"CreateAccount": True, "CreateContact": True, "CreateOpportunity": True, "Status": 3},
        timeout=10,
    )
    assert qualified.status_code == 200, qualified.text
    created_refs = {ref["@odata.type"]: ref for ref in qualified.json()["value"]}
    account_id = created_refs["#Microsoft.Dynamics.CRM.account"]["accountid"]
    contact_id = created_refs["#Microsoft.Dynamics.CRM.contact"]["contactid"]
    opportunity_id = created_refs["#Microsoft.Dynamics.CRM.opportunity"]["opportunityid"]

    lead = session.get(
        f"{lead_url}?$select=statecode,statuscode",
        headers={"Prefer": 'odata.include-annotations="*"'},
        timeout=10,
    ).json()
    assert (lead["statecode"], lead["statuscode"]) == (1, 3)
    assert lead["statecode@OData.Community.Display.V1.FormattedValue"] == "Qualified"

    # 4. Read the new records and their links (lookups as _x_value, annotations, $expand).
    annotated = {"Prefer": 'odata.include-annotations="*"'}
    opportunity = session.get(
        f"{base}opportunities({opportunity_id})"
        "?$select=name,_customerid_value,_originatingleadid_value"
        "&$expand=originatingleadid($select=subject)",
        headers=annotated,
        timeout=10,
    ).json()
    assert opportunity["name"] == "Website inquiry 2"
    assert opportunity["_originatingleadid_value"] == lead_id
    assert opportunity["originatingleadid"]["subject"] == "Website inquiry 2"
    assert opportunity["_customerid_value"] in (account_id, contact_id)
    assert opportunity["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] in (
        "account",
        "contact",
    )

    account = session.get(
        f"{base}accounts({account_id})?$select=name,telephone1,_originatingleadid_value",
        timeout=10,
    ).json()
    assert account["name"] == "Contoso 2"
    assert account["_originatingleadid_value"] == lead_id

    contact = session.get(
        f"{base}contacts({contact_id})?$select=fullname,emailaddress1,_parentcustomerid_value",
        headers=annotated,
        timeout=10,
    ).json()
    assert contact["fullname"] == "Ana Lee2"
    assert contact["emailaddress1"] == "ana2@example.com"
    assert contact["_parentcustomerid_value"] == account_id  # qualify_cross_links (default)
    assert (
        contact["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"]
        == "parentcustomerid_account"
    )

    # 5. Qualifying again is refused: the lead is closed.
    again = session.post(
        f"{lead_url}/Microsoft.Dynamics.CRM.QualifyLead",
        json={
            "CreateAccount": False,
            "CreateContact": False,
            "CreateOpportunity": True,
            "Status": 3,
        },
        timeout=10,
    )
    assert again.status_code == 400
    assert "closed" in again.json()["error"]["message"]
