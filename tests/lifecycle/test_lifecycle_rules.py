"""One test (at least) per business rule of lead-lifecycle.md, against the fake Dataverse."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from d365leads import (
    Account,
    Contact,
    DataverseClient,
    DisqualifyReason,
    InactiveRecordError,
    InvalidInputError,
    Lead,
    LeadClosedError,
    LeadState,
    LeadStatus,
    Lookup,
    NoCustomerError,
    OpportunityState,
    OpportunityStatus,
    Query,
    col,
)
from d365leads.testing import FakeDataverseFixture

from .fake_helpers import seed_lead, snapshot, writes

FULL_LEAD = {
    "subject": "50 laptops for the new office",
    "firstname": "Ana",
    "lastname": "Lee",
    "companyname": "Fabrikam",
    "jobtitle": "Purchasing Manager",
    "emailaddress1": "ana.lee@fabrikam.example",
    "telephone1": "+1 555 0100",
    "mobilephone": "+1 555 0101",
    "websiteurl": "https://fabrikam.example",
    "address1_line1": "1 Main St",
    "address1_city": "Springfield",
    "address1_postalcode": "12345",
    "address1_country": "USA",
}


@pytest.fixture
def client(fake_dataverse: FakeDataverseFixture) -> DataverseClient:
    client: DataverseClient = fake_dataverse.client()
    return client


# --- rule 1: disqualify with a default or tenant-defined reason ----------------------------


@pytest.mark.parametrize("reason", list(DisqualifyReason))
def test_rule1_disqualify_with_each_default_reason(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient, reason: DisqualifyReason
) -> None:
    lead_id = seed_lead(fake_dataverse, lastname="Lee")
    lead = client.leads.disqualify(lead_id, reason)
    row = fake_dataverse.get("lead", lead_id)
    assert row is not None
    assert (row["statecode"], row["statuscode"]) == (2, int(reason))
    assert lead.statecode is LeadState.DISQUALIFIED and lead.statuscode == reason


def test_rule1_tenant_defined_disqualified_reason(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    from d365leads.fake.org.states import add_status_reason

    add_status_reason(fake_dataverse.options, "lead", 100000001, "Went with competitor", 2)
    lead_id = seed_lead(fake_dataverse, lastname="Lee")
    lead = client.leads.disqualify(lead_id, 100000001)
    assert fake_dataverse.get("lead", lead_id)["statuscode"] == 100000001  # type: ignore[index]
    assert lead.formatted("statuscode") == "Went with competitor"


# --- rule 2: a disqualified lead is never deleted -------------------------------------------


def test_rule2_disqualified_lead_is_kept_and_not_deleted(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, lastname="Lee")
    client.leads.disqualify(lead_id, DisqualifyReason.CANNOT_CONTACT)
    assert fake_dataverse.get("lead", lead_id) is not None
    assert not any(w.startswith("DELETE") for w in writes(fake_dataverse))
    # deleting a closed lead is refused too: history is kept unless explicitly overridden
    with pytest.raises(InactiveRecordError, match="kept for history"):
        client.leads.delete(lead_id)
    assert fake_dataverse.get("lead", lead_id) is not None
    assert not any(w.startswith("DELETE") for w in writes(fake_dataverse))


# --- rule 3: inactive records can be viewed but not edited ----------------------------------


def test_rule3_editing_a_closed_lead_is_refused_unless_forced(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, lastname="Lee", statecode=2, statuscode=4)
    before = snapshot(fake_dataverse)
    lead = client.leads.get(lead_id)  # viewing works
    assert lead.statecode is LeadState.DISQUALIFIED
    lead.subject = "Edited"
    seen = len(fake_dataverse.journal)
    with pytest.raises(InactiveRecordError, match="reactivate it first"):
        client.leads.update(lead)
    assert len(fake_dataverse.journal) == seen  # a fresh model's state is trusted: no request
    with pytest.raises(InactiveRecordError):
        client.leads.update(lead_id, {"subject": "Edited"})
    checks = [r for r, _ in fake_dataverse.journal[seen:]]
    assert [(r.method, r.path) for r in checks] == [("GET", f"leads({lead_id})")]
    assert writes(fake_dataverse) == []
    assert snapshot(fake_dataverse) == before

    fake_dataverse.options.enforce_inactive_edit_rule = False  # the platform's lenient rule
    client.leads.update(lead, force=True)
    assert fake_dataverse.get("lead", lead_id)["subject"] == "Edited"  # type: ignore[index]


def test_rule3_inactive_account_contact_and_opportunity_are_read_only(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    account = client.accounts.create(Account(name="Contoso"))
    contact = client.contacts.create(Contact(lastname="Lee", parentcustomerid=account))
    opportunity = client.opportunities.create(
        {"name": "Deal", "customerid": account, "estimatedvalue": Decimal("1000")}
    )
    client.accounts.deactivate(account)
    client.contacts.deactivate(contact)
    client.opportunities.lose(opportunity, status=OpportunityStatus.OUT_SOLD)
    before = snapshot(fake_dataverse)
    count = len(writes(fake_dataverse))
    with pytest.raises(InactiveRecordError, match="Inactive"):
        client.accounts.update(account.id, {"name": "Renamed"})  # type: ignore[arg-type]
    with pytest.raises(InactiveRecordError):
        client.contacts.update(contact.id, {"jobtitle": "CEO"})  # type: ignore[arg-type]
    with pytest.raises(InactiveRecordError, match="Lost"):
        client.opportunities.update(opportunity.id, {"name": "Renamed"})  # type: ignore[arg-type]
    assert len(writes(fake_dataverse)) == count
    assert snapshot(fake_dataverse) == before

    client.accounts.activate(account)
    client.accounts.update(account.id, {"name": "Renamed"})  # type: ignore[arg-type]
    assert client.accounts.get(account.id).name == "Renamed"  # type: ignore[arg-type]


# --- rule 4: Closed Leads and My Open Leads views -------------------------------------------


def test_rule4_closed_leads_and_my_open_leads(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    other = fake_dataverse.seed("systemuser", {"firstname": "Olga", "lastname": "Other"})[0]
    mine_open = seed_lead(fake_dataverse, lastname="Mine")
    mine_contacted = seed_lead(fake_dataverse, lastname="Mine2", statuscode=2)
    others_open = seed_lead(fake_dataverse, lastname="Theirs", ownerid=other)
    qualified = seed_lead(fake_dataverse, lastname="Q", statecode=1, statuscode=3)
    disqualified = seed_lead(fake_dataverse, lastname="D", statecode=2, statuscode=7)

    closed = {str(lead.id) for lead in client.leads.closed()}
    assert closed == {qualified, disqualified}
    mine = {str(lead.id) for lead in client.leads.my_open()}
    assert mine == {mine_open, mine_contacted}
    assert others_open not in mine
    # the views combine with the caller's own filters and paging
    filtered = list(client.leads.closed(col("lastname") == "D", page_size=1))
    assert [str(lead.id) for lead in filtered] == [disqualified]


# --- rule 5: reactivate: back to Open/New, original owner kept ------------------------------


def test_rule5_reactivate_keeps_owner_and_can_be_qualified(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    owner = fake_dataverse.seed("systemuser", {"firstname": "Olga", "lastname": "Owner"})[0]
    lead_id = seed_lead(
        fake_dataverse, lastname="Lee", companyname="Fabrikam", ownerid=owner,
        statecode=2, statuscode=6,
    )  # fmt: skip
    lead = client.leads.reactivate(lead_id)
    row = fake_dataverse.get("lead", lead_id)
    assert row is not None
    assert (row["statecode"], row["statuscode"]) == (0, 1)
    assert row["ownerid"] == owner
    assert lead.ownerid is not None and str(lead.ownerid.id) == owner
    patches = [r for r, _ in fake_dataverse.journal if r.method == "PATCH"]
    assert [p.json() for p in patches] == [{"statecode": 0, "statuscode": 1}]
    # it shows in its owner's open leads again, and can be worked and qualified
    owners_open = client.leads.open(col("_ownerid_value") == uuid.UUID(owner))
    assert [str(x.id) for x in owners_open] == [lead_id]
    result = client.leads.qualify(lead_id)
    assert result.lead.statecode is LeadState.QUALIFIED


def test_rule5_reactivate_with_a_chosen_open_status(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, lastname="Lee", statecode=1, statuscode=3)
    model = client.leads.get(lead_id)
    client.leads.reactivate(model, LeadStatus.CONTACTED)
    assert model.statecode is LeadState.OPEN and model.statuscode is LeadStatus.CONTACTED
    assert model.formatted("statuscode") == "Contacted"
    assert fake_dataverse.get("lead", lead_id)["statuscode"] == 2  # type: ignore[index]


# --- rule 6: qualify closes the lead and creates a linked opportunity ----------------------


def test_rule6_qualify_closes_lead_and_creates_linked_opportunity(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, **FULL_LEAD)
    result = client.leads.qualify(lead_id)
    assert result.lead.statecode is LeadState.QUALIFIED
    assert result.lead.statuscode is LeadStatus.QUALIFIED
    assert result.opportunity is not None
    assert result.opportunity.originatingleadid is not None
    assert str(result.opportunity.originatingleadid.id) == lead_id
    assert result.opportunity.name == FULL_LEAD["subject"]
    assert result.opportunity.statecode is OpportunityState.OPEN
    stored = fake_dataverse.get("opportunity", result.opportunity.id)  # type: ignore[arg-type]
    assert stored is not None and stored["originatingleadid"] == lead_id


# --- rule 7: an opportunity must have a customer -------------------------------------------


def test_rule7_existing_parent_account_is_the_customer(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    account_id = fake_dataverse.seed("account", {"name": "Existing Co"})[0]
    lead_id = seed_lead(fake_dataverse, lastname="Lee", parentaccountid=account_id)
    result = client.leads.qualify(lead_id, create_account=False, create_contact=False)
    assert result.account is None and result.contact is None
    assert result.opportunity is not None
    assert result.opportunity.customerid == Lookup(
        id=uuid.UUID(account_id), table="account", name="Existing Co"
    )
    assert result.opportunity.parentaccountid is not None
    assert str(result.opportunity.parentaccountid.id) == account_id


def test_rule7_new_account_only_when_company_is_set(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    no_company = seed_lead(fake_dataverse, firstname="Ana", lastname="Lee")
    result = client.leads.qualify(no_company)
    assert result.account is None
    assert result.contact is not None and result.contact.fullname == "Ana Lee"
    assert result.opportunity is not None
    assert result.opportunity.customerid is not None
    assert result.opportunity.customerid.table == "contact"

    with_company = seed_lead(fake_dataverse, companyname="Fabrikam", subject="Topic!")
    result = client.leads.qualify(with_company)
    assert result.account is not None and result.account.name == "Fabrikam"
    assert result.opportunity is not None and result.opportunity.name == "Topic!"
    assert result.opportunity.customerid is not None
    assert result.opportunity.customerid.table == "account"


def test_rule7_no_customer_is_refused_before_anything_changes(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, subject="Nameless")
    company_only = seed_lead(fake_dataverse, companyname="Fabrikam")
    before = snapshot(fake_dataverse)
    with pytest.raises(NoCustomerError, match="no customer"):
        client.leads.qualify(lead_id)
    with pytest.raises(NoCustomerError, match="create_account is False"):
        client.leads.qualify(company_only, create_account=False)
    assert writes(fake_dataverse) == []
    assert snapshot(fake_dataverse) == before


def test_rule7_explicit_customer(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    contact = client.contacts.create(Contact(firstname="Cy", lastname="Customer"))
    lead_id = seed_lead(fake_dataverse, subject="Nameless")
    result = client.leads.qualify(
        lead_id, create_account=False, create_contact=False, customer=contact
    )
    assert result.opportunity is not None
    assert result.opportunity.customerid == Lookup(
        id=contact.id,
        table="contact",
        name="Cy Customer",  # type: ignore[arg-type]
    )


# --- rule 8: a contact stands alone or belongs to an account --------------------------------


def test_rule8_contact_alone_or_in_an_account(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    account = client.accounts.create(Account(name="Contoso"))
    member = client.contacts.create(Contact(lastname="Member", parentcustomerid=account))
    alone = client.contacts.create({"firstname": "Solo", "lastname": "Person"})
    assert member.parentcustomerid == Lookup(id=account.id, table="account", name="Contoso")  # type: ignore[arg-type]
    assert alone.parentcustomerid is None
    in_account = list(client.contacts.list(col("_parentcustomerid_value") == account.id))
    assert [c.id for c in in_account] == [member.id]
    # qualification links the new contact to the new account when both are created
    lead_id = seed_lead(fake_dataverse, **FULL_LEAD)
    result = client.leads.qualify(lead_id)
    assert result.contact is not None and result.account is not None
    assert result.contact.parentcustomerid is not None
    assert result.contact.parentcustomerid.id == result.account.id


# --- rule 9: qualifying a closed lead is an error -------------------------------------------


@pytest.mark.parametrize(("state", "status"), [(1, 3), (2, 5)])
def test_rule9_qualifying_a_closed_lead_is_refused(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient, state: int, status: int
) -> None:
    lead_id = seed_lead(fake_dataverse, **FULL_LEAD, statecode=state, statuscode=status)
    before = snapshot(fake_dataverse)
    with pytest.raises(LeadClosedError, match="reactivate it first"):
        client.leads.qualify(lead_id)
    assert writes(fake_dataverse) == []
    assert snapshot(fake_dataverse) == before
    client.leads.reactivate(lead_id)
    assert client.leads.qualify(lead_id).opportunity is not None


# --- rule 10: field mappings and links back to the lead -------------------------------------


def test_rule10_fields_flow_to_the_new_records(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, **FULL_LEAD)
    result = client.leads.qualify(lead_id)
    account, contact, opp = result.account, result.contact, result.opportunity
    assert account is not None and contact is not None and opp is not None
    assert account.name == "Fabrikam"
    assert account.websiteurl == FULL_LEAD["websiteurl"]
    assert (account.address1_line1, account.address1_city) == ("1 Main St", "Springfield")
    assert (contact.firstname, contact.lastname) == ("Ana", "Lee")
    assert contact.jobtitle == FULL_LEAD["jobtitle"]
    assert contact.emailaddress1 == FULL_LEAD["emailaddress1"]
    assert contact.mobilephone == FULL_LEAD["mobilephone"]
    assert contact.address1_postalcode == "12345"
    assert opp.name == FULL_LEAD["subject"]
    for record in (account, contact, opp):
        assert record.originatingleadid is not None
        assert str(record.originatingleadid.id) == lead_id


def test_lead_crud_through_typed_models(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    account = client.accounts.create(Account(name="Contoso"))
    lead = Lead(subject="New inquiry", firstname="Bo", lastname="Chen", parentaccountid=account)
    created = client.leads.create(lead)
    assert created.id is not None and lead.id == created.id and lead.changes() == {}
    assert created.fullname == "Bo Chen" and created.statecode is LeadState.OPEN
    created.jobtitle = "CTO"
    client.leads.update(created)
    assert fake_dataverse.get("lead", created.id)["jobtitle"] == "CTO"  # type: ignore[index]
    created.jobtitle = "CEO"
    client.leads.update(created)  # the etag was refreshed after the first update
    found = list(client.leads.list(Query().where(col("lastname") == "Chen").select("jobtitle")))
    assert [x.jobtitle for x in found] == ["CEO"]
    upserted = client.leads.upsert({"leadid": str(created.id), "subject": "Upserted"})
    assert upserted == created.id
    assert client.leads.get(created.id).subject == "Upserted"
    client.leads.delete(created.id)
    assert fake_dataverse.get("lead", created.id) is None


def test_opportunity_win_and_reopen(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    account = client.accounts.create(Account(name="Contoso"))
    opp = client.opportunities.create({"name": "Deal", "customerid": account})
    client.opportunities.win(opp, actual_revenue=Decimal("2500"), subject="Signed")
    assert opp.statecode is OpportunityState.WON
    win = [r for r, _ in fake_dataverse.journal if r.path == "WinOpportunity"]
    assert win[0].json() == {
        "Status": 3,
        "OpportunityClose": {
            "subject": "Signed",
            "opportunityid@odata.bind": f"/opportunities({opp.id})",
            "actualrevenue": 2500.0,
        },
    }
    with pytest.raises(InactiveRecordError):
        client.opportunities.win(opp)
    client.opportunities.reopen(opp)
    assert client.opportunities.get(opp.id).statecode is OpportunityState.OPEN  # type: ignore[arg-type]


def test_update_of_a_locally_built_model_sends_only_its_columns(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, lastname="Lee")
    client.leads.update(Lead(leadid=uuid.UUID(lead_id), jobtitle="CTO"))
    (patch,) = [r for r, _ in fake_dataverse.journal if r.method == "PATCH"]
    assert patch.json() == {"jobtitle": "CTO"}
    assert patch.header("If-Match") == "*"
    with pytest.raises(InvalidInputError, match="cannot be changed"):
        client.leads.update(lead_id, {"leadid": str(uuid.uuid4())})
