"""The lead lifecycle (lead-lifecycle.md rules 1-10) over HTTP against the fake, plain requests.

Every request goes through the whole fake (``responses`` adapter -> middleware -> router ->
rules/actions), so these tests pin the wire behaviour the client relies on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions
from d365leads.fake.org.states import add_status_reason

HEADERS = {
    "Authorization": "Bearer fake-token",
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
}
OTHER_OWNER = "11111111-2222-3333-4444-555555555555"
LEAD = {
    "subject": "Fleet telematics for 40 vans",
    "firstname": "Kwame",
    "lastname": "Mensah",
    "jobtitle": "Head of Operations",
    "companyname": "Northwind Logistics",
    "websiteurl": "https://northwind.example.com",
    "telephone1": "+1-555-0142",
    "emailaddress1": "kwame.mensah@northwind.example.com",
    "address1_city": "Nairobi",
    "address1_country": "Kenya",
}


class Api:
    """A tiny requests wrapper for the fake's base URL."""

    def __init__(self, fake: FakeDataverse) -> None:
        self.fake = fake
        self.base = fake.base_url
        self.session = requests.Session()
        self.session.headers.update(HEADERS)

    def url(self, path: str) -> str:
        return self.base + quote(path, safe="/()=',@$&?:;")

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url(path), json=body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.session.patch(self.url(path), json=body, **kwargs)

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        response = self.post(entity_set, body)
        assert response.status_code == 204, response.text
        return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    def values(self, path: str) -> list[dict[str, Any]]:
        response = self.get(path)
        assert response.status_code == 200, response.text
        value: list[dict[str, Any]] = response.json()["value"]
        return value

    def qualify(self, lead_id: str, **params: Any) -> requests.Response:
        body = {
            "CreateAccount": True,
            "CreateContact": True,
            "CreateOpportunity": True,
            "Status": 3,
        }
        body.update(params)
        return self.post(f"leads({lead_id})/Microsoft.Dynamics.CRM.QualifyLead", body)


def make_api(options: FakeOptions | None = None) -> Iterator[Api]:
    fake = FakeDataverse(options=options or FakeOptions())
    fake.seed(
        "systemuser", [{"systemuserid": OTHER_OWNER, "firstname": "Maria", "lastname": "Campbell"}]
    )
    with fake.mock():
        api = Api(fake)
        yield api
        api.session.close()
    assert fake.errors == []


@pytest.fixture
def api() -> Iterator[Api]:
    yield from make_api()


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def state_of(api: Api, lead_id: str) -> tuple[int, int]:
    row = api.get(f"leads({lead_id})?$select=statecode,statuscode").json()
    return row["statecode"], row["statuscode"]


# --- rules 1 and 2: disqualify, never delete ------------------------------------------------


@pytest.mark.parametrize("reason", [4, 5, 6, 7])
def test_disqualify_with_each_default_reason_keeps_the_record(api: Api, reason: int) -> None:
    lead_id = api.create("leads", LEAD)
    response = api.patch(
        f"leads({lead_id})", {"statecode": 2, "statuscode": reason}, headers={"If-Match": "*"}
    )
    assert response.status_code == 204
    assert state_of(api, lead_id) == (2, reason)
    # rule 2: still there, still queryable
    closed = api.values(f"leads?$filter=statecode eq 2 and leadid eq {lead_id}&$select=subject")
    assert [row["leadid"] for row in closed] == [lead_id]


def test_disqualify_with_tenant_reason_and_read_its_metadata(api: Api) -> None:
    add_status_reason(api.fake.options, "lead", 100000003, "Duplicate lead", 2)
    lead_id = api.create("leads", LEAD)
    assert (
        api.patch(f"leads({lead_id})", {"statecode": 2, "statuscode": 100000003}).status_code == 204
    )
    formatted = api.get(
        f"leads({lead_id})?$select=statuscode",
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()
    assert formatted["statuscode"] == 100000003
    assert formatted["statuscode@OData.Community.Display.V1.FormattedValue"] == "Duplicate lead"
    meta = api.get(
        "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='statuscode')/"
        "Microsoft.Dynamics.CRM.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet"
    )
    assert meta.status_code == 200
    options = {
        o["Value"]: (o["State"], o["Label"]["UserLocalizedLabel"]["Label"])
        for o in meta.json()["OptionSet"]["Options"]
    }
    assert options[100000003] == (2, "Duplicate lead")
    assert options[6] == (2, "No Longer Interested")


# --- rule 3: inactive records are read-only -------------------------------------------------


def test_closed_lead_edit_is_refused(api: Api) -> None:
    lead_id = api.create("leads", LEAD)
    api.patch(f"leads({lead_id})", {"statecode": 2, "statuscode": 6})
    response = api.patch(f"leads({lead_id})", {"subject": "changed"})
    status, code, message = error_of(response)
    assert (status, code) == (400, "0x80040203")
    assert "inactive" in message and lead_id in message
    assert api.get(f"leads({lead_id})?$select=subject").json()["subject"] == LEAD["subject"]


@pytest.mark.parametrize("entity_set", ["accounts", "contacts"])
def test_inactive_account_and_contact_edit_is_refused(api: Api, entity_set: str) -> None:
    body = {"name": "Acme"} if entity_set == "accounts" else {"lastname": "Doe"}
    record_id = api.create(entity_set, body)
    assert (
        api.patch(f"{entity_set}({record_id})", {"statecode": 1, "statuscode": 2}).status_code
        == 204
    )
    assert api.patch(f"{entity_set}({record_id})", {"description": "x"}).status_code == 400
    assert (
        api.patch(f"{entity_set}({record_id})", {"statecode": 0, "statuscode": 1}).status_code
        == 204
    )
    assert api.patch(f"{entity_set}({record_id})", {"description": "x"}).status_code == 204


def test_lenient_switch_allows_edits_of_closed_leads() -> None:
    for api in make_api(FakeOptions(enforce_inactive_edit_rule=False)):
        lead_id = api.create("leads", LEAD)
        api.patch(f"leads({lead_id})", {"statecode": 2, "statuscode": 6})
        assert api.patch(f"leads({lead_id})", {"subject": "changed"}).status_code == 204
        assert state_of(api, lead_id) == (2, 6)


# --- rule 4: views --------------------------------------------------------------------------


def test_closed_leads_and_my_open_leads_views(api: Api) -> None:
    me = api.get("WhoAmI").json()["UserId"]
    open_mine = api.create("leads", LEAD)
    qualified = api.create("leads", LEAD)
    assert api.qualify(qualified).status_code == 200
    disqualified = api.create("leads", LEAD)
    api.patch(f"leads({disqualified})", {"statecode": 2, "statuscode": 5})
    (open_other,) = api.fake.seed("lead", [{**LEAD, "ownerid": OTHER_OWNER}])

    closed = api.values("leads?$filter=statecode ne 0&$select=leadid&$orderby=createdon desc")
    assert {r["leadid"] for r in closed} == {qualified, disqualified}
    mine = api.values(f"leads?$filter=statecode eq 0 and _ownerid_value eq {me}&$select=subject")
    assert [r["leadid"] for r in mine] == [open_mine]
    theirs = api.values(f"leads?$filter=statecode eq 0 and _ownerid_value eq '{OTHER_OWNER}'")
    assert [r["leadid"] for r in theirs] == [open_other]


# --- rule 5: reactivate -----------------------------------------------------------------------


def test_reactivate_returns_to_open_new_keeps_owner_and_can_be_qualified(api: Api) -> None:
    (lead_id,) = api.fake.seed(
        "lead", [{**LEAD, "ownerid": OTHER_OWNER, "statecode": 2, "statuscode": 6}]
    )
    response = api.patch(
        f"leads({lead_id})", {"statecode": 0, "statuscode": 1}, headers={"If-Match": "*"}
    )
    assert response.status_code == 204
    row = api.get(f"leads({lead_id})?$select=statecode,statuscode,_ownerid_value").json()
    assert (row["statecode"], row["statuscode"], row["_ownerid_value"]) == (0, 1, OTHER_OWNER)
    mine = api.values(f"leads?$filter=statecode eq 0 and _ownerid_value eq {OTHER_OWNER}")
    assert [r["leadid"] for r in mine] == [lead_id]
    # worked like a new lead, then qualified
    assert api.patch(f"leads({lead_id})", {"statuscode": 2}).status_code == 204
    assert api.qualify(lead_id).status_code == 200
    assert state_of(api, lead_id) == (1, 3)


def test_reactivate_with_state_only_uses_default_status(api: Api) -> None:
    lead_id = api.create("leads", LEAD)
    api.patch(f"leads({lead_id})", {"statecode": 2, "statuscode": 7})
    assert api.patch(f"leads({lead_id})", {"statecode": 0}).status_code == 204
    assert state_of(api, lead_id) == (0, 1)


# --- rules 6, 7, 10: qualify --------------------------------------------------------------------


def test_qualify_creates_and_maps_records(api: Api) -> None:
    lead_id = api.create("leads", LEAD)
    response = api.qualify(lead_id)
    assert response.status_code == 200
    created = response.json()["value"]
    account_id = created[0]["accountid"]
    contact_id = created[1]["contactid"]
    opportunity_id = created[2]["opportunityid"]
    lead = api.get(
        f"leads({lead_id})?$select=statecode,statuscode,_qualifyingopportunityid_value"
    ).json()
    assert (lead["statecode"], lead["statuscode"]) == (1, 3)
    assert lead["_qualifyingopportunityid_value"] == opportunity_id
    opportunity = api.get(
        f"opportunities({opportunity_id})?$select=name,_customerid_value,_originatingleadid_value,"
        "_transactioncurrencyid_value,statecode"
    ).json()
    assert opportunity["name"] == LEAD["subject"]
    assert opportunity["_customerid_value"] == account_id
    assert opportunity["_originatingleadid_value"] == lead_id
    assert opportunity["_transactioncurrencyid_value"] == api.fake.base_currency_id
    account = api.get(
        f"accounts({account_id})?$select=name,websiteurl,address1_city,_primarycontactid_value,"
        "_originatingleadid_value"
    ).json()
    assert (account["name"], account["websiteurl"]) == (LEAD["companyname"], LEAD["websiteurl"])
    assert account["address1_city"] == "Nairobi"
    assert account["_primarycontactid_value"] == contact_id
    assert account["_originatingleadid_value"] == lead_id
    contact = api.get(
        f"contacts({contact_id})?$select=fullname,jobtitle,emailaddress1,_parentcustomerid_value,"
        "_originatingleadid_value"
    ).json()
    assert contact["fullname"] == "Kwame Mensah" and contact["jobtitle"] == LEAD["jobtitle"]
    assert contact["emailaddress1"] == LEAD["emailaddress1"]
    assert contact["_parentcustomerid_value"] == account_id
    assert contact["_originatingleadid_value"] == lead_id
    linked = api.values(f"opportunities?$filter=_originatingleadid_value eq {lead_id}")
    assert [r["opportunityid"] for r in linked] == [opportunity_id]


def test_qualify_uses_existing_customer(api: Api) -> None:
    account_id = api.create("accounts", {"name": "Existing Customer Ltd"})
    lead_id = api.create(
        "leads", {**LEAD, "parentaccountid@odata.bind": f"/accounts({account_id})"}
    )
    created = api.qualify(lead_id).json()["value"]
    assert [c["@odata.type"] for c in created] == [
        "#Microsoft.Dynamics.CRM.contact",
        "#Microsoft.Dynamics.CRM.opportunity",
    ]
    opportunity = api.get(
        f"opportunities({created[1]['opportunityid']})?$select=_customerid_value,_parentaccountid_value"
    ).json()
    assert opportunity["_customerid_value"] == account_id
    assert opportunity["_parentaccountid_value"] == account_id
    assert len(api.values("accounts?$select=name")) == 1


def test_qualify_with_explicit_customer(api: Api) -> None:
    contact_id = api.create("contacts", {"firstname": "Jun", "lastname": "Chen"})
    lead_id = api.create("leads", LEAD)
    customer = {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": contact_id}
    created = api.qualify(lead_id, OpportunityCustomerId=customer).json()["value"]
    opportunity = api.get(
        f"opportunities({created[-1]['opportunityid']})?$select=_customerid_value"
    ).json()
    assert opportunity["_customerid_value"] == contact_id


def test_qualify_without_any_customer_is_refused_and_changes_nothing(api: Api) -> None:
    lead_id = api.create("leads", {"subject": "Anonymous inquiry"})
    response = api.qualify(lead_id)
    status, _, message = error_of(response)
    assert status == 400 and "without a customer" in message
    assert state_of(api, lead_id) == (0, 1)
    assert api.values("opportunities") == [] and api.values("accounts") == []


# --- rule 8: contacts alone or in an account -----------------------------------------------------


def test_contact_standalone_or_linked_to_account(api: Api) -> None:
    account_id = api.create("accounts", {"name": "Fabrikam"})
    linked = api.create(
        "contacts",
        {"lastname": "Linked", "parentcustomerid_account@odata.bind": f"/accounts({account_id})"},
    )
    alone = api.create("contacts", {"lastname": "Alone"})
    assert (
        api.get(f"contacts({linked})?$select=_parentcustomerid_value").json()[
            "_parentcustomerid_value"
        ]
        == account_id
    )
    assert (
        api.get(f"contacts({alone})?$select=_parentcustomerid_value").json()[
            "_parentcustomerid_value"
        ]
        is None
    )
    person = api.create("leads", {k: v for k, v in LEAD.items() if k != "companyname"})
    created = api.qualify(person).json()["value"]
    assert [c["@odata.type"] for c in created] == [
        "#Microsoft.Dynamics.CRM.contact",
        "#Microsoft.Dynamics.CRM.opportunity",
    ]
    contact = api.get(f"contacts({created[0]['contactid']})?$select=_parentcustomerid_value").json()
    assert contact["_parentcustomerid_value"] is None


# --- rule 9: closed leads cannot be qualified --------------------------------------------------


def test_qualify_closed_lead_is_an_error(api: Api) -> None:
    lead_id = api.create("leads", LEAD)
    assert api.qualify(lead_id).status_code == 200
    response = api.qualify(lead_id)
    assert error_of(response) == (
        400,
        "0x80040203",
        "The lead is closed. You cannot convert or qualify a lead that is already closed.",
    )
    assert len(api.values("opportunities")) == 1


# --- wire errors ------------------------------------------------------------------------------


def test_invalid_state_status_pairs(api: Api) -> None:
    lead_id = api.create("leads", LEAD)
    status, code, message = error_of(
        api.patch(f"leads({lead_id})", {"statecode": 2, "statuscode": 3})
    )
    assert (status, code) == (400, "0x80048408")
    expected = "3 is not a valid status code for state code LeadState.Disqualified on lead"
    assert message == f"{expected} with Id {lead_id}"
    _, _, alone = error_of(api.patch(f"leads({lead_id})", {"statuscode": 6}))
    assert alone.startswith("6 is not a valid status code for state code LeadState.Open")
    _, _, unknown = error_of(api.patch(f"leads({lead_id})", {"statecode": 2, "statuscode": 42}))
    assert unknown == "42 is not a valid status code on lead"
    assert state_of(api, lead_id) == (0, 1)


def test_create_with_closed_status_is_refused(api: Api) -> None:
    response = api.post("leads", {**LEAD, "statuscode": 6})
    assert error_of(response)[1] == "0x80048408"
    assert api.values("leads") == []


def test_qualify_with_disqualified_status_is_refused(api: Api) -> None:
    lead_id = api.create("leads", LEAD)
    _, code, message = error_of(api.qualify(lead_id, Status=6))
    assert code == "0x80048408" and "LeadState.Qualified" in message
    assert state_of(api, lead_id) == (0, 1)


def test_qualify_needs_the_namespace(api: Api) -> None:
    lead_id = api.create("leads", LEAD)
    response = api.post(
        f"leads({lead_id})/QualifyLead",
        {"CreateAccount": False, "CreateContact": False, "CreateOpportunity": False, "Status": 3},
    )
    assert error_of(response)[:1] == (400,)
    assert "unresolved parameters" in error_of(response)[2]


def test_win_and_lose_opportunity(api: Api) -> None:
    won_lead = api.create("leads", LEAD)
    lost_lead = api.create("leads", LEAD)
    won = api.qualify(won_lead).json()["value"][-1]["opportunityid"]
    lost = api.qualify(lost_lead).json()["value"][-1]["opportunityid"]
    # closing by PATCH is refused: use the actions
    assert api.patch(f"opportunities({won})", {"statecode": 1, "statuscode": 3}).status_code == 400
    close = {
        "@odata.type": "Microsoft.Dynamics.CRM.opportunityclose",
        "subject": "Signed",
        "actualrevenue": 48000,
        "opportunityid@odata.bind": f"/opportunities({won})",
    }
    assert api.post("WinOpportunity", {"Status": 3, "OpportunityClose": close}).status_code == 204
    lost_close = {
        **close,
        "opportunityid@odata.bind": f"/opportunities({lost})",
        "subject": "Price",
    }
    assert (
        api.post("LoseOpportunity", {"Status": 5, "OpportunityClose": lost_close}).status_code
        == 204
    )
    rows = {
        r["opportunityid"]: (r["statecode"], r["statuscode"])
        for r in api.values("opportunities?$select=statecode,statuscode")
    }
    assert rows == {won: (1, 3), lost: (2, 5)}
    assert len(api.fake.rows("opportunityclose")) == 2
    bad = api.post("LoseOpportunity", {"Status": 3, "OpportunityClose": lost_close})
    assert error_of(bad)[0] == 400


def test_filter_errors_over_http(api: Api) -> None:
    status, code, message = error_of(api.get("leads?$filter=nosuch eq 1"))
    assert (status, code) == (400, "0x80060888")
    assert (
        message == "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.lead'."
    )
    response = api.get(
        "leads?$filter=Microsoft.Dynamics.CRM.ThisFiscalYear(PropertyName='createdon')"
    )
    assert (
        response.status_code == 501
        and "Microsoft.Dynamics.CRM.ThisFiscalYear" in response.json()["error"]["message"]
    )
    assert api.get("leads?$filter=subject eq 'unterminated").status_code == 400


def test_older_than_a_year_no_longer_interested_selection_on_demo_data(api: Api) -> None:
    api.fake.seed_demo_data()
    cutoff = (api.fake.clock() - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = api.values(
        f"leads?$filter=statecode eq 2 and statuscode eq 6 and createdon lt {cutoff}"
        "&$select=createdon,statuscode&$orderby=createdon asc"
    )
    assert rows, "the demo data should hold old No Longer Interested leads"
    assert all(r["statuscode"] == 6 and r["createdon"] < cutoff for r in rows)
    assert [r["createdon"] for r in rows] == sorted(r["createdon"] for r in rows)


def test_orderby_nulls_first_and_select_of_lookups_over_http(api: Api) -> None:
    api.fake.seed(
        "lead",
        [
            {"subject": "b", "revenue": 20.0},
            {"subject": "a", "revenue": None},
            {"subject": "c", "revenue": 5.0},
        ],
    )
    ascending = api.values("leads?$select=subject,revenue&$orderby=revenue asc")
    assert [r["subject"] for r in ascending] == ["a", "c", "b"]
    descending = api.values("leads?$select=subject&$orderby=revenue desc,subject")
    assert [r["subject"] for r in descending] == ["b", "c", "a"]
    status, code, message = error_of(api.get("leads?$select=parentaccountid"))
    assert (status, code) == (400, "0x80060888") and "'parentaccountid'" in message
    rows = api.values("leads?$select=_parentaccountid_value&$filter=subject eq 'A'")
    assert rows[0]["_parentaccountid_value"] is None


def test_switch_refuses_disqualify_while_an_open_opportunity_exists() -> None:
    for api in make_api(FakeOptions(disqualify_requires_no_open_opportunity=True)):
        lead_id = api.create("leads", LEAD)
        api.fake.seed(
            "opportunity",
            {"name": "Open deal", "originatingleadid": lead_id, "statecode": 0, "statuscode": 1},
        )
        response = api.patch(
            f"leads({lead_id})", {"statecode": 2, "statuscode": 4}, headers={"If-Match": "*"}
        )
        status, _, message = error_of(response)
        assert status == 400 and "no open opportunity" in message
        assert state_of(api, lead_id) == (0, 1)
