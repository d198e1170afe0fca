"""Exact requests for qualify, disqualify and reactivate, and parsing of documented responses.

These run the real client stack (transport, retry, auth headers, error mapping) against
``responses`` with the shapes documented in dataverse-web-api.md §2.2, §3.1, §4.4.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import pytest
import responses

from d365leads import (
    DataverseClient,
    DisqualifyReason,
    InvalidStatusError,
    Lead,
    LeadClosedError,
    LeadState,
    LeadStatus,
    Lookup,
    NotFoundError,
    PreconditionFailedError,
)
from d365leads.errors import BadRequestError

from .wire_helpers import (
    BASE,
    FV,
    LEAD_OPTIONS,
    LN,
    METADATA_PATH,
    error_body,
    lead_row,
    status_metadata,
)

LEAD_ID = "f282fa8b-0000-0000-0000-000000000010"
CURRENCY_ID = "874ca79f-0000-0000-0000-000000000020"
ACCOUNT_ID = "720dd88f-0000-0000-0000-000000000030"
CAMPAIGN_ID = "260dd88f-0000-0000-0000-000000000040"
NEW_ACCOUNT = "a0000000-0000-0000-0000-000000000001"
NEW_CONTACT = "c0000000-0000-0000-0000-000000000001"
NEW_OPP = "e0000000-0000-0000-0000-000000000001"


def _writes(rsps: responses.RequestsMock) -> list[responses.Call]:
    return [c for c in rsps.calls if c.request.method != "GET"]


def _metadata(rsps: responses.RequestsMock, extra: Sequence[tuple[int, int, str]] = ()) -> None:
    rsps.get(BASE + METADATA_PATH, json=status_metadata([*LEAD_OPTIONS, *extra]))


def test_qualify_sends_the_documented_request_and_returns_typed_records(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    rsps.get(
        BASE + f"leads({LEAD_ID})",
        json=lead_row(LEAD_ID, subject="Big deal", companyname="Fabrikam", lastname="Lee"),
    )
    _metadata(rsps)
    rsps.post(
        BASE + f"leads({LEAD_ID})/Microsoft.Dynamics.CRM.QualifyLead",
        json={
            "@odata.context": BASE + "$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)",
            "value": [
                {"@odata.type": "#Microsoft.Dynamics.CRM.account", "accountid": NEW_ACCOUNT},
                {"@odata.type": "#Microsoft.Dynamics.CRM.contact", "contactid": NEW_CONTACT},
                {"@odata.type": "#Microsoft.Dynamics.CRM.opportunity", "opportunityid": NEW_OPP},
            ],
        },
    )
    rsps.get(
        BASE + f"accounts({NEW_ACCOUNT})",
        json={"@odata.etag": 'W/"1"', "accountid": NEW_ACCOUNT, "name": "Fabrikam",
              "_originatingleadid_value": LEAD_ID},
    )  # fmt: skip
    rsps.get(
        BASE + f"contacts({NEW_CONTACT})",
        json={"contactid": NEW_CONTACT, "lastname": "Lee", "_parentcustomerid_value": NEW_ACCOUNT,
              f"_parentcustomerid_value{LN}": "account"},
    )  # fmt: skip
    rsps.get(
        BASE + f"opportunities({NEW_OPP})",
        json={"opportunityid": NEW_OPP, "name": "Big deal", "_customerid_value": NEW_ACCOUNT,
              f"_customerid_value{LN}": "account", f"_customerid_value{FV}": "Fabrikam",
              "_originatingleadid_value": LEAD_ID, "statecode": 0, "statuscode": 1},
    )  # fmt: skip

    result = wire_client.leads.qualify(
        LEAD_ID,
        currency=CURRENCY_ID,
        customer=Lookup.to("account", ACCOUNT_ID),
        campaign=uuid.UUID(CAMPAIGN_ID),
    )

    (post,) = _writes(rsps)
    request = post.request
    assert request.method == "POST"
    assert request.url == BASE + f"leads({LEAD_ID})/Microsoft.Dynamics.CRM.QualifyLead"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["OData-Version"] == "4.0"
    assert request.headers["OData-MaxVersion"] == "4.0"
    assert request.headers["Authorization"] == "Bearer wire-token"
    assert json.loads(request.body) == {
        "CreateAccount": True,
        "CreateContact": True,
        "CreateOpportunity": True,
        "Status": 3,
        "OpportunityCurrencyId": {
            "@odata.type": "Microsoft.Dynamics.CRM.transactioncurrency",
            "transactioncurrencyid": CURRENCY_ID,
        },
        "OpportunityCustomerId": {
            "@odata.type": "Microsoft.Dynamics.CRM.account",
            "accountid": ACCOUNT_ID,
        },
        "SourceCampaignId": {
            "@odata.type": "Microsoft.Dynamics.CRM.campaign",
            "campaignid": CAMPAIGN_ID,
        },
    }
    assert result.account is not None and result.account.name == "Fabrikam"
    assert result.contact is not None and result.contact.parentcustomerid == Lookup(
        id=uuid.UUID(NEW_ACCOUNT), table="account"
    )
    assert result.opportunity is not None
    assert result.opportunity.originatingleadid == Lookup(id=uuid.UUID(LEAD_ID), table="lead")
    assert result.opportunity.formatted("customerid") == "Fabrikam"
    assert [ref.table for ref in result.created] == ["account", "contact", "opportunity"]


def test_qualify_with_flags_off_sends_only_the_flags(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    rsps.get(BASE + f"leads({LEAD_ID})", json=lead_row(LEAD_ID, lastname="Lee"))
    _metadata(rsps)
    rsps.post(
        BASE + f"leads({LEAD_ID})/Microsoft.Dynamics.CRM.QualifyLead",
        json={"value": []},
    )
    result = wire_client.leads.qualify(
        LEAD_ID, create_account=False, create_contact=False, create_opportunity=False
    )
    (post,) = _writes(rsps)
    assert json.loads(post.request.body) == {
        "CreateAccount": False,
        "CreateContact": False,
        "CreateOpportunity": False,
        "Status": 3,
    }
    assert result.opportunity is None and result.created == ()


def test_disqualify_is_one_patch_of_state_and_status(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    _metadata(rsps)
    rsps.get(BASE + f"leads({LEAD_ID})", json=lead_row(LEAD_ID))
    rsps.patch(BASE + f"leads({LEAD_ID})", status=204)

    wire_client.leads.disqualify(LEAD_ID, DisqualifyReason.NO_LONGER_INTERESTED)

    (patch,) = _writes(rsps)
    request = patch.request
    assert request.method == "PATCH"
    assert request.url == BASE + f"leads({LEAD_ID})"
    assert request.headers["If-Match"] == "*"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["OData-Version"] == "4.0"
    assert json.loads(request.body) == {"statecode": 2, "statuscode": 6}


def test_reactivate_sends_state_and_status_and_never_the_owner(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    _metadata(rsps)
    rsps.get(
        BASE + f"leads({LEAD_ID})",
        json=lead_row(LEAD_ID, statecode=2, statuscode=4, _ownerid_value=ACCOUNT_ID),
    )
    rsps.patch(BASE + f"leads({LEAD_ID})", status=204)

    wire_client.leads.reactivate(LEAD_ID)

    (patch,) = _writes(rsps)
    assert patch.request.url == BASE + f"leads({LEAD_ID})"
    assert json.loads(patch.request.body) == {"statecode": 0, "statuscode": 1}


def test_model_etag_is_sent_and_a_stale_one_raises_precondition_failed(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    lead = Lead.from_wire(lead_row(LEAD_ID, subject="Old", etag='W/"470867"'))
    rsps.patch(
        BASE + f"leads({LEAD_ID})",
        status=412,
        json=error_body(
            "0x80060882",
            "The version of the existing record doesn't match the RowVersion property provided.",
        ),
    )
    lead.subject = "New"
    with pytest.raises(PreconditionFailedError) as caught:
        wire_client.leads.update(lead)
    assert caught.value.code == "0x80060882"
    (patch,) = _writes(rsps)
    assert patch.request.headers["If-Match"] == 'W/"470867"'
    assert json.loads(patch.request.body) == {"subject": "New"}
    assert lead.changed_fields == {"subject"}  # nothing was saved, the change is kept


def test_missing_lead_gives_not_found_and_no_write(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    rsps.get(
        BASE + f"leads({LEAD_ID})",
        status=404,
        json=error_body("0x80040217", f"Entity 'lead' With Id = {LEAD_ID} Does Not Exist"),
    )
    _metadata(rsps)
    with pytest.raises(NotFoundError, match="Does Not Exist"):
        wire_client.leads.qualify(LEAD_ID)
    with pytest.raises(NotFoundError):
        wire_client.leads.disqualify(LEAD_ID, DisqualifyReason.LOST)
    assert _writes(rsps) == []


def test_closed_lead_is_refused_before_the_action(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    rsps.get(BASE + f"leads({LEAD_ID})", json=lead_row(LEAD_ID, statecode=1, statuscode=3))
    _metadata(rsps)
    with pytest.raises(LeadClosedError, match="reactivate it first"):
        wire_client.leads.qualify(LEAD_ID)
    assert _writes(rsps) == []


def test_server_side_closed_error_is_parsed(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    # Someone else closed the lead between our check and the action: the server's error wins.
    rsps.get(BASE + f"leads({LEAD_ID})", json=lead_row(LEAD_ID, companyname="Fabrikam"))
    _metadata(rsps)
    rsps.post(
        BASE + f"leads({LEAD_ID})/Microsoft.Dynamics.CRM.QualifyLead",
        status=400,
        json=error_body(
            "0x80040203",
            "The lead is closed. You cannot convert or qualify a lead that is already closed.",
        ),
    )
    with pytest.raises(BadRequestError, match="lead is closed") as caught:
        wire_client.leads.qualify(LEAD_ID)
    assert caught.value.status == 400 and caught.value.code == "0x80040203"


def test_tenant_reason_from_metadata_is_accepted_and_cached(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    _metadata(rsps, [(100000001, 2, "Went with competitor")])
    rsps.get(BASE + f"leads({LEAD_ID})", json=lead_row(LEAD_ID))
    rsps.patch(BASE + f"leads({LEAD_ID})", status=204)

    wire_client.leads.disqualify(LEAD_ID, 100000001)
    wire_client.leads.disqualify(LEAD_ID, 100000001)

    patches = _writes(rsps)
    assert [json.loads(p.request.body) for p in patches] == [
        {"statecode": 2, "statuscode": 100000001}
    ] * 2
    metadata_calls = [c for c in rsps.calls if "EntityDefinitions" in c.request.url]
    assert len(metadata_calls) == 1
    assert metadata_calls[0].request.url == (
        BASE + METADATA_PATH + "?$select=LogicalName&$expand=OptionSet"
    )


@pytest.mark.parametrize("reason", [3, 1, 999, LeadStatus.QUALIFIED])
def test_reason_outside_disqualified_state_is_refused_before_any_write(
    rsps: responses.RequestsMock, wire_client: DataverseClient, reason: int
) -> None:
    _metadata(rsps, [(100000001, 2, "Went with competitor")])
    rsps.get(BASE + f"leads({LEAD_ID})", json=lead_row(LEAD_ID))
    with pytest.raises(InvalidStatusError, match="Disqualified"):
        wire_client.leads.disqualify(LEAD_ID, reason)
    assert _writes(rsps) == []


def test_parses_list_responses_with_annotations(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    page_two = BASE + "leads?$skiptoken=page2"
    rsps.get(
        BASE + "leads",
        json={
            "value": [lead_row(LEAD_ID, statecode=1, statuscode=3)],
            "@odata.nextLink": page_two,
        },
    )
    rsps.get(page_two, json={"value": [lead_row(ACCOUNT_ID, statecode=2, statuscode=5)]})
    rsps.get(BASE + "savedqueries", json={"value": []})  # no Closed Leads view: the filter
    leads = list(wire_client.leads.closed())
    assert [lead.statecode for lead in leads] == [LeadState.QUALIFIED, LeadState.DISQUALIFIED]
    assert leads[1].formatted("statuscode") == "Cannot Contact"
    first = rsps.calls[1].request
    assert "statecode" in first.url and "odata.include-annotations" in first.headers["Prefer"]


@pytest.mark.parametrize("status", [404, 501])
def test_without_org_metadata_the_default_reasons_still_guard_writes(
    rsps: responses.RequestsMock, wire_client: DataverseClient, status: int
) -> None:
    rsps.get(
        BASE + METADATA_PATH,
        status=status,
        json=error_body("0x80040217" if status == 404 else "", "metadata not available"),
    )
    rsps.get(BASE + f"leads({LEAD_ID})", json=lead_row(LEAD_ID))
    rsps.patch(BASE + f"leads({LEAD_ID})", status=204)
    with pytest.raises(InvalidStatusError, match="metadata could not be read"):
        wire_client.leads.disqualify(LEAD_ID, 100000001)
    assert _writes(rsps) == []
    wire_client.leads.disqualify(LEAD_ID, DisqualifyReason.CANCELED)
    (patch,) = _writes(rsps)
    assert json.loads(patch.request.body) == {"statecode": 2, "statuscode": 7}
    assert wire_client.metadata.status_reasons("lead").source == "default"


def test_qualify_response_without_keys_is_resolved_through_the_originating_lead(
    rsps: responses.RequestsMock, wire_client: DataverseClient
) -> None:
    # The element content of QualifyLead's response is not documented (UNCONFIRMED): cope
    # with elements that carry only their @odata.type.
    rsps.get(BASE + f"leads({LEAD_ID})", json=lead_row(LEAD_ID, firstname="Ana", lastname="Lee"))
    _metadata(rsps)
    rsps.post(
        BASE + f"leads({LEAD_ID})/Microsoft.Dynamics.CRM.QualifyLead",
        json={"value": [{"@odata.type": "#Microsoft.Dynamics.CRM.opportunity"}]},
    )
    rsps.get(
        BASE + "opportunities",
        json={
            "value": [
                {"opportunityid": NEW_OPP, "name": "Deal", "_originatingleadid_value": LEAD_ID}
            ]
        },
    )
    result = wire_client.leads.qualify(LEAD_ID, create_account=False)
    assert result.opportunity is not None and str(result.opportunity.id) == NEW_OPP
    assert result.created == (Lookup.to("opportunity", NEW_OPP),)
    lookup = next(c for c in rsps.calls if "opportunities" in c.request.url).request.url
    assert f"_originatingleadid_value%20eq%20{LEAD_ID}" in lookup or (
        f"_originatingleadid_value eq {LEAD_ID}" in lookup
    )
