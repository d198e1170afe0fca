"""Unit tests of the fake's action executors (QualifyLead, WinOpportunity, LoseOpportunity).

The executors are called directly with a ``FakeDataverse`` and a ``FakeRequest`` (no router, no
middleware); HTTP-level behaviour is in ``test_lifecycle_http.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from d365leads.fake import FakeDataverse, FakeFault, FakeOptions, FakeRequest, FakeResponse
from d365leads.fake.handlers.actions import (
    BOUND_ACTIONS,
    CLOSED_LEAD_MESSAGE,
    UNBOUND_ACTIONS,
    lose_opportunity,
    qualify_lead,
    win_opportunity,
)
from d365leads.fake.org import records as crud
from d365leads.fake.org.states import add_status_reason

FULL_LEAD: dict[str, Any] = {
    "subject": "500 espresso machines",
    "firstname": "Ana",
    "lastname": "Lee",
    "jobtitle": "Buyer",
    "companyname": "Contoso Coffee",
    "websiteurl": "https://contoso.example.com",
    "telephone1": "+1-555-0100",
    "mobilephone": "+1-555-0101",
    "emailaddress1": "ana.lee@contoso.example.com",
    "address1_line1": "1 Main St",
    "address1_city": "Seattle",
    "address1_postalcode": "98101",
    "address1_country": "United States",
}
ALL = {"CreateAccount": True, "CreateContact": True, "CreateOpportunity": True, "Status": 3}


def make_fake(**options: Any) -> FakeDataverse:
    return FakeDataverse(options=FakeOptions(guid_seed=1, **options))


def request(fake: FakeDataverse, path: str, body: Any) -> FakeRequest:
    return FakeRequest("POST", fake.base_url + path, {}, json.dumps(body).encode())


def qualify(fake: FakeDataverse, lead_id: str, body: dict[str, Any]) -> FakeResponse:
    path = f"leads({lead_id})/Microsoft.Dynamics.CRM.QualifyLead"
    return qualify_lead(fake, request(fake, path, body), lead_id)


def qualify_fault(fake: FakeDataverse, lead_id: str, body: dict[str, Any]) -> FakeFault:
    before = fake.store.snapshot()
    with pytest.raises(FakeFault) as info:
        qualify(fake, lead_id, body)
    after = fake.store.snapshot()
    assert after.tables == before.tables, "a failed QualifyLead changed the store"
    return info.value


def test_registries() -> None:
    assert BOUND_ACTIONS[("lead", "QualifyLead")] is qualify_lead
    assert UNBOUND_ACTIONS["WinOpportunity"] is win_opportunity
    assert UNBOUND_ACTIONS["LoseOpportunity"] is lose_opportunity


def test_qualify_creates_linked_account_contact_opportunity() -> None:
    fake = make_fake()
    (lead_id,) = fake.seed("lead", [FULL_LEAD])
    response = qualify(fake, lead_id, ALL)
    assert response.status == 200
    body = response.json()
    assert body["@odata.context"].endswith(
        "$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)"
    )
    types = [item["@odata.type"] for item in body["value"]]
    assert types == [
        "#Microsoft.Dynamics.CRM.account",
        "#Microsoft.Dynamics.CRM.contact",
        "#Microsoft.Dynamics.CRM.opportunity",
    ]
    account = fake.get("account", body["value"][0]["accountid"])
    contact = fake.get("contact", body["value"][1]["contactid"])
    opportunity = fake.get("opportunity", body["value"][2]["opportunityid"])
    lead = fake.get("lead", lead_id)
    assert account and contact and opportunity and lead
    # rule 7/10: mappings
    assert account["name"] == "Contoso Coffee"
    assert account["websiteurl"] == "https://contoso.example.com"
    assert account["address1_telephone1"] == "+1-555-0100"
    assert account["address1_city"] == "Seattle"
    assert (contact["firstname"], contact["lastname"], contact["fullname"]) == (
        "Ana",
        "Lee",
        "Ana Lee",
    )
    assert contact["jobtitle"] == "Buyer" and contact["emailaddress1"] == FULL_LEAD["emailaddress1"]
    assert contact["managerphone"] == "+1-555-0100" and contact["mobilephone"] == "+1-555-0101"
    assert contact["address1_postalcode"] == "98101"
    assert opportunity["name"] == "500 espresso machines"
    # every new record points back to the lead
    for row in (account, contact, opportunity):
        assert row["originatingleadid"] == lead_id
        assert row["statecode"] == 0
    # links among the new records
    assert (contact["parentcustomerid"], contact["parentcustomeridtype"]) == (
        account["accountid"],
        "account",
    )
    assert account["primarycontactid"] == contact["contactid"]
    assert (opportunity["customerid"], opportunity["customeridtype"]) == (
        account["accountid"],
        "account",
    )
    assert opportunity["transactioncurrencyid"] == fake.base_currency_id
    # rule 6: the lead is closed as qualified and linked to its opportunity
    assert (lead["statecode"], lead["statuscode"]) == (1, 3)
    assert lead["qualifyingopportunityid"] == opportunity["opportunityid"]


def test_existing_parent_account_is_the_customer() -> None:
    fake = make_fake()
    (account_id,) = fake.seed("account", [{"name": "Existing Ltd"}])
    (contact_id,) = fake.seed("contact", [{"lastname": "Known"}])
    (lead_id,) = fake.seed(
        "lead", [{**FULL_LEAD, "parentaccountid": account_id, "parentcontactid": contact_id}]
    )
    body = qualify(fake, lead_id, ALL).json()
    assert [item["@odata.type"] for item in body["value"]] == [
        "#Microsoft.Dynamics.CRM.opportunity"
    ]
    opportunity = fake.get("opportunity", body["value"][0]["opportunityid"])
    assert opportunity is not None
    assert (opportunity["customerid"], opportunity["customeridtype"]) == (account_id, "account")
    assert opportunity["parentaccountid"] == account_id
    assert opportunity["parentcontactid"] == contact_id
    assert len(fake.rows("account")) == 1 and len(fake.rows("contact")) == 1


def test_existing_parent_contact_only_is_the_customer_and_new_account_is_made() -> None:
    fake = make_fake()
    (contact_id,) = fake.seed("contact", [{"lastname": "Known"}])
    (lead_id,) = fake.seed("lead", [{**FULL_LEAD, "parentcontactid": contact_id}])
    body = qualify(fake, lead_id, ALL).json()
    kinds = [item["@odata.type"].rsplit(".", 1)[1] for item in body["value"]]
    assert kinds == ["account", "opportunity"]
    opportunity = fake.get("opportunity", body["value"][1]["opportunityid"])
    assert opportunity is not None
    assert (opportunity["customerid"], opportunity["customeridtype"]) == (contact_id, "contact")


def test_switch_creates_account_even_with_parent() -> None:
    fake = make_fake(qualify_creates_account_when_parent_set=True)
    (account_id,) = fake.seed("account", [{"name": "Existing Ltd"}])
    (lead_id,) = fake.seed("lead", [{**FULL_LEAD, "parentaccountid": account_id}])
    body = qualify(fake, lead_id, ALL).json()
    assert len(body["value"]) == 3
    assert len(fake.rows("account")) == 2


def test_given_customer_wins() -> None:
    fake = make_fake()
    (contact_id,) = fake.seed("contact", [{"lastname": "Chosen"}])
    (lead_id,) = fake.seed("lead", [FULL_LEAD])
    customer = {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": contact_id.upper()}
    body = qualify(fake, lead_id, {**ALL, "OpportunityCustomerId": customer}).json()
    opportunity = fake.get("opportunity", body["value"][2]["opportunityid"])
    assert opportunity is not None
    assert (opportunity["customerid"], opportunity["customeridtype"]) == (contact_id, "contact")


def test_no_company_creates_contact_customer_only() -> None:
    fake = make_fake()
    lead = {k: v for k, v in FULL_LEAD.items() if k != "companyname"}
    (lead_id,) = fake.seed("lead", [lead])
    body = qualify(fake, lead_id, ALL).json()
    kinds = [item["@odata.type"].rsplit(".", 1)[1] for item in body["value"]]
    assert kinds == ["contact", "opportunity"]
    contact_id = body["value"][0]["contactid"]
    contact = fake.get("contact", contact_id)
    opportunity = fake.get("opportunity", body["value"][1]["opportunityid"])
    assert contact is not None and opportunity is not None
    assert contact.get("parentcustomerid") is None
    assert (opportunity["customerid"], opportunity["customeridtype"]) == (contact_id, "contact")


def test_empty_company_error_switch() -> None:
    fake = make_fake(qualify_empty_company="error")
    (lead_id,) = fake.seed("lead", [{**FULL_LEAD, "companyname": None}])
    error = qualify_fault(fake, lead_id, ALL)
    assert error.status == 400 and "companyname" in error.message


def test_opportunity_without_customer_is_refused_before_any_change() -> None:
    fake = make_fake()
    (lead_id,) = fake.seed("lead", [{"subject": "Anonymous web form"}])
    error = qualify_fault(fake, lead_id, ALL)
    assert error.status == 400
    assert "without a customer" in error.message
    assert fake.get("lead", lead_id)["statecode"] == 0  # type: ignore[index]


def test_closed_lead_cannot_be_qualified() -> None:
    fake = make_fake()
    (qualified, disqualified) = fake.seed(
        "lead",
        [
            {**FULL_LEAD, "statecode": 1, "statuscode": 3},
            {**FULL_LEAD, "statecode": 2, "statuscode": 6},
        ],
    )
    for lead_id in (qualified, disqualified):
        error = qualify_fault(fake, lead_id, ALL)
        assert (error.status, error.code, error.message) == (400, "0x80040203", CLOSED_LEAD_MESSAGE)
    custom = make_fake(qualify_closed_lead_status=409, qualify_closed_lead_code="0x8004xxxx")
    (lead_id,) = custom.seed("lead", [{**FULL_LEAD, "statecode": 2, "statuscode": 4}])
    assert (qualify_fault(custom, lead_id, ALL).status) == 409


def test_status_must_be_a_qualified_reason() -> None:
    fake = make_fake()
    (lead_id,) = fake.seed("lead", [FULL_LEAD])
    error = qualify_fault(fake, lead_id, {**ALL, "Status": 6})
    assert error.code == "0x80048408"
    assert error.message == (
        f"6 is not a valid status code for state code LeadState.Qualified on lead with Id {lead_id}"
    )
    assert (
        "not a valid status code on lead"
        in qualify_fault(fake, lead_id, {**ALL, "Status": 99}).message
    )


def test_custom_qualified_reason_is_accepted() -> None:
    fake = make_fake()
    add_status_reason(fake.options, "lead", 100000001, "Qualified by partner", 1)
    (lead_id,) = fake.seed("lead", [FULL_LEAD])
    qualify(fake, lead_id, {**ALL, "Status": 100000001})
    lead = fake.get("lead", lead_id)
    assert lead is not None and (lead["statecode"], lead["statuscode"]) == (1, 100000001)


def test_all_flags_false_closes_lead_and_returns_empty_collection() -> None:
    fake = make_fake()
    (lead_id,) = fake.seed("lead", [FULL_LEAD])
    body = qualify(
        fake,
        lead_id,
        {"CreateAccount": False, "CreateContact": False, "CreateOpportunity": False, "Status": 3},
    ).json()
    assert body["value"] == []
    lead = fake.get("lead", lead_id)
    assert (
        lead is not None and lead["statecode"] == 1 and lead.get("qualifyingopportunityid") is None
    )
    assert fake.rows("opportunity") == []


def test_switches_for_links_and_mappings() -> None:
    fake = make_fake(
        qualify_cross_links=False,
        qualify_documented_phone_mappings=False,
        qualify_sets_qualifying_opportunity=False,
        qualify_sets_lead_parent_links=True,
        qualify_sets_originating_lead_on_account_contact=False,
        qualify_default_currency=False,
    )
    (lead_id,) = fake.seed("lead", [FULL_LEAD])
    body = qualify(fake, lead_id, ALL).json()
    account = fake.get("account", body["value"][0]["accountid"])
    contact = fake.get("contact", body["value"][1]["contactid"])
    opportunity = fake.get("opportunity", body["value"][2]["opportunityid"])
    lead = fake.get("lead", lead_id)
    assert account and contact and opportunity and lead
    assert account.get("primarycontactid") is None and contact.get("parentcustomerid") is None
    assert account["telephone1"] == "+1-555-0100" and contact["telephone1"] == "+1-555-0100"
    assert account.get("originatingleadid") is None and contact.get("originatingleadid") is None
    assert opportunity["originatingleadid"] == lead_id
    assert lead.get("qualifyingopportunityid") is None
    assert lead["parentaccountid"] == account["accountid"]
    assert lead["parentcontactid"] == contact["contactid"]
    assert opportunity["parentaccountid"] == account["accountid"]
    assert opportunity.get("transactioncurrencyid") is None


def test_currency_and_campaign_parameters() -> None:
    fake = make_fake()
    (eur,) = fake.seed(
        "transactioncurrency",
        [
            {
                "currencyname": "Euro",
                "isocurrencycode": "EUR",
                "currencysymbol": "€",
                "exchangerate": 0.9,
            }
        ],
    )
    (campaign,) = fake.seed("campaign", [{"name": "Spring fair"}])
    (lead_id,) = fake.seed("lead", [FULL_LEAD])
    body = qualify(
        fake,
        lead_id,
        {
            **ALL,
            "OpportunityCurrencyId": {
                "@odata.type": "Microsoft.Dynamics.CRM.transactioncurrency",
                "transactioncurrencyid": eur,
            },
            "SourceCampaignId": {
                "@odata.type": "Microsoft.Dynamics.CRM.campaign",
                "campaignid": campaign,
            },
            "SuppressDuplicateDetection": True,
        },
    ).json()
    opportunity = fake.get("opportunity", body["value"][2]["opportunityid"])
    assert opportunity is not None
    assert opportunity["transactioncurrencyid"] == eur
    assert opportunity["campaignid"] == campaign


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        ({"Bogus": 1}, 400, "'Bogus'"),
        ({"Status": None}, 400, "unresolved parameters"),
        ({"CreateAccount": "yes"}, 400, "true or false"),
        ({"Status": "3"}, 400, "whole number"),
        (
            {"OpportunityCustomerId": {"accountid": "6f1c2c1e-0000-0000-0000-000000000001"}},
            400,
            "@odata.type",
        ),
        (
            {
                "OpportunityCustomerId": {
                    "@odata.type": "Microsoft.Dynamics.CRM.lead",
                    "leadid": "6f1c2c1e-0000-0000-0000-000000000001",
                }
            },
            400,
            "account or",
        ),
        (
            {
                "OpportunityCustomerId": {
                    "@odata.type": "Microsoft.Dynamics.CRM.account",
                    "accountid": "6f1c2c1e-0000-0000-0000-000000000001",
                }
            },
            404,
            "Does Not Exist",
        ),
        (
            {"OpportunityCustomerId": {"@odata.type": "Microsoft.Dynamics.CRM.account"}},
            400,
            "accountid",
        ),
        (
            {
                "ProcessInstanceId": {
                    "@odata.type": "Microsoft.Dynamics.CRM.workflow",
                    "workflowid": "x",
                }
            },
            501,
            "business process",
        ),
    ],
)
def test_bad_parameters(change: dict[str, Any], status: int, needle: str) -> None:
    fake = make_fake()
    (lead_id,) = fake.seed("lead", [FULL_LEAD])
    error = qualify_fault(fake, lead_id, {**ALL, **change})
    assert error.status == status
    assert needle in error.message


def test_missing_lead_is_404() -> None:
    fake = make_fake()
    error = qualify_fault(fake, "6f1c2c1e-0000-0000-0000-0000000000ff", ALL)
    assert (error.status, error.code) == (404, "0x80040217")


def test_failure_after_creating_records_rolls_everything_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = make_fake()
    (lead_id,) = fake.seed("lead", [FULL_LEAD])
    real_update = crud.update_record

    def failing_update(fake_: Any, meta: Any, record_id: str, changes: Any) -> Any:
        if meta.logical_name == "lead":
            raise FakeFault(500, "0x80040216", "simulated failure while closing the lead")
        return real_update(fake_, meta, record_id, changes)

    monkeypatch.setattr(crud, "update_record", failing_update)
    error = qualify_fault(fake, lead_id, ALL)
    assert error.status == 500
    assert (
        fake.rows("account") == [] and fake.rows("contact") == [] and fake.rows("opportunity") == []
    )


# --- Win / Lose ---------------------------------------------------------------------------


def open_opportunity(fake: FakeDataverse) -> str:
    (account_id,) = fake.seed("account", [{"name": "Buyer Inc."}])
    (opp_id,) = fake.seed(
        "opportunity",
        [
            {
                "name": "Deal",
                "customerid": account_id,
                "customeridtype": "account",
                "transactioncurrencyid": fake.base_currency_id,
            }
        ],
    )
    return opp_id


def close_body(opp_id: str, status: int, **extra: Any) -> dict[str, Any]:
    return {
        "Status": status,
        "OpportunityClose": {
            "@odata.type": "Microsoft.Dynamics.CRM.opportunityclose",
            "subject": "Closed",
            "opportunityid@odata.bind": f"/opportunities({opp_id})",
            **extra,
        },
    }


def test_win_opportunity() -> None:
    fake = make_fake()
    opp_id = open_opportunity(fake)
    response = win_opportunity(
        fake,
        request(
            fake,
            "WinOpportunity",
            close_body(opp_id, 3, actualrevenue=5000, actualend="2026-01-04"),
        ),
        None,
    )
    assert response.status == 204 and response.body == b""
    opportunity = fake.get("opportunity", opp_id)
    assert opportunity is not None
    assert (opportunity["statecode"], opportunity["statuscode"]) == (1, 3)
    assert opportunity["actualvalue"] == 5000 and opportunity["actualclosedate"] == "2026-01-04"
    (close,) = fake.rows("opportunityclose")
    assert close["opportunityid"] == opp_id and close["actualrevenue"] == 5000
    assert (close["statecode"], close["statuscode"]) == (1, 2)
    assert close["transactioncurrencyid"] == fake.base_currency_id


def test_lose_opportunity_with_out_sold() -> None:
    fake = make_fake()
    opp_id = open_opportunity(fake)
    lose_opportunity(fake, request(fake, "LoseOpportunity", close_body(opp_id, 5)), None)
    opportunity = fake.get("opportunity", opp_id)
    assert opportunity is not None and (opportunity["statecode"], opportunity["statuscode"]) == (
        2,
        5,
    )
    assert len(fake.rows("opportunityclose")) == 1


def close_fault(fake: FakeDataverse, executor: Any, body: Any) -> FakeFault:
    before = fake.store.snapshot()
    with pytest.raises(FakeFault) as info:
        executor(fake, request(fake, "WinOpportunity", body), None)
    assert fake.store.snapshot().tables == before.tables
    return info.value


def test_close_errors_leave_store_unchanged() -> None:
    fake = make_fake()
    opp_id = open_opportunity(fake)
    wrong = close_fault(fake, win_opportunity, close_body(opp_id, 4))
    assert wrong.code == "0x80048408" and "OpportunityState.Won" in wrong.message
    assert (
        "OpportunityState.Lost"
        in close_fault(fake, lose_opportunity, close_body(opp_id, 3)).message
    )
    missing = close_fault(
        fake, win_opportunity, {"Status": 3, "OpportunityClose": {"subject": "x"}}
    )
    assert "opportunityid@odata.bind" in missing.message
    assert close_fault(fake, win_opportunity, {"Status": 3}).status == 400
    assert close_fault(fake, win_opportunity, {**close_body(opp_id, 3), "Extra": 1}).status == 400
    absent = close_body("6f1c2c1e-0000-0000-0000-0000000000ff", 3)
    assert close_fault(fake, win_opportunity, absent).status == 404
    win_opportunity(fake, request(fake, "WinOpportunity", close_body(opp_id, 3)), None)
    again = close_fault(fake, lose_opportunity, close_body(opp_id, 4))
    assert "already closed" in again.message


def test_an_action_bound_to_an_entity_set_is_one_registry_entry() -> None:
    # How a set-bound message (CreateMultiple and the others) plugs in: keyed by table, called
    # without a record. DeleteMultiple is one the fake does not implement.
    fake = make_fake()
    calls: list[tuple[str, str | None]] = []

    def delete_multiple(org: Any, req: FakeRequest, record_id: str | None) -> FakeResponse:
        calls.append((req.json()["Targets"][0]["subject"], record_id))
        return FakeResponse.json_body(200, {"Ids": [org.caller_id]})

    path = "leads/Microsoft.Dynamics.CRM.DeleteMultiple"
    body = {"Targets": [{"subject": "one"}]}
    auth = {"Authorization": "Bearer t"}
    before = fake(FakeRequest("POST", fake.base_url + path, auth, json.dumps(body).encode()))
    assert before.status == 501  # not implemented until registered
    fake.bound_actions[("lead", "DeleteMultiple")] = delete_multiple
    answer = fake(FakeRequest("POST", fake.base_url + path, auth, json.dumps(body).encode()))
    assert (answer.status, answer.json()) == (200, {"Ids": [fake.caller_id]})
    assert calls == [("one", None)]
    assert make_fake().bound_actions.get(("lead", "DeleteMultiple")) is None  # per fake
