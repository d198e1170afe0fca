"""Wire parsing and PATCH bodies of the typed models."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d365leads import (
    Account,
    Contact,
    InvalidIdError,
    InvalidInputError,
    Lead,
    LeadState,
    LeadStatus,
    Lookup,
    Opportunity,
    OpportunityStatus,
)
from d365leads.models import DisqualifyReason, default_status_pairs, parse_id

LEAD_ID = "6f1c2c1e-0000-0000-0000-000000000001"
ACCOUNT_ID = "720dd88f-0000-0000-0000-000000000030"
OWNER_ID = "11111111-2222-3333-4444-555555555555"
FV = "@OData.Community.Display.V1.FormattedValue"
LN = "@Microsoft.Dynamics.CRM.lookuplogicalname"
NAV = "@Microsoft.Dynamics.CRM.associatednavigationproperty"

# A row as the Web API returns it with Prefer: odata.include-annotations="*".
LEAD_ROW = {
    "@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#leads/$entity",
    "@odata.etag": 'W/"470867"',
    "leadid": LEAD_ID,
    "subject": "Website inquiry",
    "firstname": "Ana",
    "lastname": "Lee",
    "fullname": "Ana Lee",
    "companyname": "Contoso",
    "statecode": 2,
    f"statecode{FV}": "Disqualified",
    "statuscode": 6,
    f"statuscode{FV}": "No Longer Interested",
    "estimatedamount": 1250.5,
    f"estimatedamount{FV}": "$1,250.50",
    "createdon": "2024-03-01T10:15:00Z",
    "_parentaccountid_value": ACCOUNT_ID,
    f"_parentaccountid_value{FV}": "Contoso Ltd",
    f"_parentaccountid_value{LN}": "account",
    f"_parentaccountid_value{NAV}": "parentaccountid",
    "_ownerid_value": OWNER_ID,
    f"_ownerid_value{FV}": "Sam Seller",
    f"_ownerid_value{LN}": "systemuser",
    "_parentcontactid_value": None,
    "new_score": 42,
    f"new_score{FV}": "42",
    "_new_regionid_value": "99999999-0000-0000-0000-000000000001",
    f"_new_regionid_value{LN}": "new_region",
    f"_new_regionid_value{FV}": "EMEA",
}


def test_parses_documented_row_with_annotations() -> None:
    lead = Lead.from_wire(LEAD_ROW)
    assert lead.id == uuid.UUID(LEAD_ID)
    assert lead.etag == 'W/"470867"'
    assert lead.statecode is LeadState.DISQUALIFIED
    assert lead.statuscode is LeadStatus.NO_LONGER_INTERESTED
    assert lead.formatted("statuscode") == "No Longer Interested"
    assert lead.formatted("estimatedamount") == "$1,250.50"
    assert lead.estimatedamount == Decimal("1250.5")
    assert lead.createdon == datetime(2024, 3, 1, 10, 15, tzinfo=timezone.utc)
    assert lead.parentaccountid == Lookup(
        id=uuid.UUID(ACCOUNT_ID), table="account", name="Contoso Ltd"
    )
    assert lead.formatted("parentaccountid") == "Contoso Ltd"
    assert lead.ownerid is not None and lead.ownerid.table == "systemuser"
    assert lead.parentcontactid is None
    assert lead.is_closed is True
    assert lead.loaded
    assert lead.changes() == {}


def test_unmodelled_columns_are_kept_and_written_back() -> None:
    lead = Lead.from_wire(LEAD_ROW)
    assert lead.extra["new_score"] == 42
    region = lead.lookup("new_regionid")
    assert region == Lookup(
        id=uuid.UUID("99999999-0000-0000-0000-000000000001"), table="new_region", name="EMEA"
    )
    lead.new_score = 43
    assert lead.changes() == {"new_score": 43}
    lead.bind("new_regionid", "account", ACCOUNT_ID)
    assert lead.changes()["new_regionid@odata.bind"] == f"/accounts({ACCOUNT_ID})"


def test_patch_body_holds_only_changed_fields() -> None:
    lead = Lead.from_wire(LEAD_ROW)
    lead.subject = "Changed topic"
    lead.parentcontactid = Lookup.to("contact", "720dd88f-0000-0000-0000-000000000031")
    assert lead.changed_fields == {"subject", "parentcontactid"}
    assert lead.changes() == {
        "subject": "Changed topic",
        "parentcontactid@odata.bind": "/contacts(720dd88f-0000-0000-0000-000000000031)",
    }
    lead.mark_clean()
    assert lead.changes() == {}


def test_new_model_sends_every_given_field_and_binds_lookups() -> None:
    account = Account(accountid=uuid.UUID(ACCOUNT_ID), name="Contoso")
    lead = Lead(subject="Hi", lastname="Lee", parentaccountid=account, statuscode=2)
    assert lead.statuscode is LeadStatus.CONTACTED
    assert lead.changes() == {
        "lastname": "Lee",
        "parentaccountid@odata.bind": f"/accounts({ACCOUNT_ID})",
        "statuscode": 2,
        "subject": "Hi",
    }


def test_polymorphic_lookups_use_suffixed_navigation_properties() -> None:
    contact_id = uuid.uuid4()
    opp = Opportunity(name="Deal", customerid=Contact(contactid=contact_id, lastname="Lee"))
    assert opp.changes() == {
        "customerid_contact@odata.bind": f"/contacts({contact_id})",
        "name": "Deal",
    }
    contact = Contact(lastname="Lee", parentcustomerid=Lookup.to("account", ACCOUNT_ID))
    assert contact.changes()["parentcustomerid_account@odata.bind"] == f"/accounts({ACCOUNT_ID})"
    # a bare id cannot say which table a customer is in
    ambiguous = Opportunity(name="Deal", customerid=ACCOUNT_ID)
    with pytest.raises(InvalidInputError, match="account or contact"):
        ambiguous.changes()


def test_polymorphic_lookup_read_keeps_the_table() -> None:
    opp = Opportunity.from_wire(
        {
            "opportunityid": str(uuid.uuid4()),
            "_customerid_value": ACCOUNT_ID,
            f"_customerid_value{LN}": "account",
            f"_customerid_value{FV}": "Contoso",
            "statecode": 1,
            "statuscode": 3,
        }
    )
    assert opp.customerid == Lookup(id=uuid.UUID(ACCOUNT_ID), table="account", name="Contoso")
    assert opp.statuscode is OpportunityStatus.WON
    assert opp.is_open is False


def test_tenant_status_reason_parses_as_int() -> None:
    lead = Lead.from_wire({"leadid": LEAD_ID, "statecode": 2, "statuscode": 100000003})
    assert lead.statuscode == 100000003
    assert not isinstance(lead.statuscode, LeadStatus)


def test_read_only_columns_are_refused_in_changes() -> None:
    lead = Lead.from_wire(LEAD_ROW)
    lead.fullname = "Someone Else"
    with pytest.raises(InvalidInputError, match="read-only"):
        lead.changes()


def test_wrong_lookup_target_is_refused() -> None:
    with pytest.raises(ValueError, match="can only point to account"):
        Lead(parentaccountid=Lookup.to("contact", ACCOUNT_ID))


def test_malformed_ids_are_refused() -> None:
    with pytest.raises(InvalidIdError, match="GUID"):
        parse_id("not-a-guid")
    with pytest.raises(InvalidIdError):
        Lookup.to("account", "12345")
    assert parse_id("{" + LEAD_ID.upper() + "}") == uuid.UUID(LEAD_ID)


def test_enums_and_pairs() -> None:
    assert [r.value for r in DisqualifyReason] == [4, 5, 6, 7]
    assert LeadStatus.CANNOT_CONTACT.state is LeadState.DISQUALIFIED
    assert LeadState.DISQUALIFIED.default_status is LeadStatus.LOST
    assert default_status_pairs("lead") == {1: 0, 2: 0, 3: 1, 4: 2, 5: 2, 6: 2, 7: 2}
    assert default_status_pairs("opportunity")[5] == 2


def test_to_wire_round_trips_for_upsert() -> None:
    lead = Lead.from_wire(LEAD_ROW)
    body = lead.to_wire()
    assert body["subject"] == "Website inquiry"
    assert body["new_score"] == 42
    assert body["parentaccountid@odata.bind"] == f"/accounts({ACCOUNT_ID})"
    assert "fullname" not in body and "createdon" not in body
    assert not any(key.startswith("_") for key in body)
    again = Lead.from_wire({**LEAD_ROW, "subject": body["subject"]})
    assert again.model_dump() == lead.model_dump()


def test_lookups_compare_by_row_not_by_display_name() -> None:
    named = Lookup(id=uuid.UUID(ACCOUNT_ID), table="account", name="Contoso")
    assert named == Lookup.to("account", ACCOUNT_ID)
    assert named == Lookup(id=uuid.UUID(ACCOUNT_ID))
    assert named != Lookup(id=uuid.UUID(ACCOUNT_ID), table="contact")
    assert named != Lookup.to("account", LEAD_ID)
    assert len({named, Lookup.to("account", ACCOUNT_ID)}) == 1


@settings(max_examples=50, deadline=None)
@given(
    subject=st.text(max_size=300),
    firstname=st.one_of(st.none(), st.text(max_size=50)),
    score=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    status=st.sampled_from([1, 2, 100000001]),
)
def test_wire_round_trip_and_dirty_tracking(
    subject: str, firstname: str | None, score: int, status: int
) -> None:
    row = {
        "leadid": LEAD_ID,
        "subject": subject,
        "firstname": firstname,
        "statecode": 0,
        "statuscode": status,
        "new_score": score,
    }
    lead = Lead.from_wire(row)
    assert lead.changes() == {}
    assert lead.to_wire() == row
    lead.subject = subject + "!"
    assert lead.changes() == {"subject": subject + "!"}
