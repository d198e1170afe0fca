"""Typed CRUD on accounts, contacts and opportunities against the fake."""

from __future__ import annotations

import uuid

import pytest

from d365leads import (
    Account,
    AccountState,
    Contact,
    DataverseClient,
    InactiveRecordError,
    InvalidInputError,
    Lead,
    LeadState,
    Lookup,
    Query,
    col,
)
from d365leads.testing import FakeDataverseFixture


@pytest.fixture
def client(fake_dataverse: FakeDataverseFixture) -> DataverseClient:
    client: DataverseClient = fake_dataverse.client()
    return client


def test_upsert_by_alternate_key_creates_then_updates(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    # The client reads the new id from OData-EntityId; Dataverse answers an alternate-key
    # upsert in the key form (no GUID), so this test uses the fake's GUID answer.
    fake_dataverse.options.alternate_key_entity_id = "guid"
    first = client.accounts.upsert(
        Account(name="Keyed", accountnumber="A-1"), key={"accountnumber": "A-1"}
    )
    again = client.accounts.upsert({"name": "Keyed again"}, key={"accountnumber": "A-1"})
    assert first is not None and first == again
    rows = fake_dataverse.rows("account", accountnumber="A-1")
    assert [r["name"] for r in rows] == ["Keyed again"]


def test_upsert_of_an_inactive_record_by_id_is_refused(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    account_id = fake_dataverse.seed("account", {"name": "Old", "statecode": 1, "statuscode": 2})[0]
    with pytest.raises(InactiveRecordError):
        client.accounts.upsert({"name": "New"}, key=account_id)
    assert fake_dataverse.get("account", account_id)["name"] == "Old"  # type: ignore[index]
    new_id = uuid.uuid4()
    assert client.accounts.upsert({"name": "Created"}, key=new_id) == new_id
    assert fake_dataverse.get("account", new_id)["name"] == "Created"  # type: ignore[index]


def test_list_pages_and_parses_typed_models(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    fake_dataverse.seed("account", [{"name": f"Account {i:02d}"} for i in range(7)])
    query = Query("accounts").where(col("name").startswith("Account")).order_by("name")
    names = [a.name for a in client.accounts.list(query, page_size=3)]
    assert names == [f"Account {i:02d}" for i in range(7)]
    pages = [r for r, _ in fake_dataverse.journal if r.path == "accounts" and r.method == "GET"]
    assert len(pages) == 3  # followed @odata.nextLink
    first = next(client.accounts.list(top=1, select=["name"]))
    assert isinstance(first, Account) and first.statecode is None  # only what was selected


def test_wrong_table_and_unsaved_records_are_refused(client: DataverseClient) -> None:
    account = Account(name="Not saved")
    with pytest.raises(InvalidInputError, match="expected a lead"):
        client.leads.get(Account(accountid=uuid.uuid4()))
    with pytest.raises(InvalidInputError, match="create it first"):
        client.accounts.update(account)
    with pytest.raises(InvalidInputError, match="expected a lead reference"):
        client.leads.get(Lookup.to("account", uuid.uuid4()))
    with pytest.raises(InvalidInputError, match="invalid lead columns"):
        client.leads.create({"parentaccountid": Lookup.to("contact", uuid.uuid4())})


def test_contact_deactivate_and_activate(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    contact = client.contacts.create(Contact(firstname="Ana", lastname="Lee"))
    client.contacts.deactivate(contact)
    assert fake_dataverse.get("contact", contact.id)["statecode"] == 1  # type: ignore[arg-type, index]
    assert contact.is_active is False
    client.contacts.activate(contact.id)  # type: ignore[arg-type]
    assert fake_dataverse.get("contact", contact.id)["statuscode"] == 1  # type: ignore[arg-type, index]
    account = client.accounts.create({"name": "Contoso"})
    client.accounts.deactivate(account.id)  # type: ignore[arg-type]
    assert client.accounts.get(account.id).statecode is AccountState.INACTIVE  # type: ignore[arg-type]


def test_create_with_a_chosen_id(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = uuid.uuid4()
    created = client.leads.create(Lead(leadid=lead_id, subject="Chosen id", lastname="Lee"))
    assert created.id == lead_id
    assert created.formatted("statuscode") == "New"


def test_qualify_of_a_model_takes_the_new_version_without_reading_the_lead_again(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = fake_dataverse.seed(
        "lead", {"subject": "Deal", "companyname": "Fabrikam", "lastname": "Lee"}
    )[0]
    lead = client.leads.get(lead_id)
    before = len(fake_dataverse.journal)

    result = client.leads.qualify(lead)

    lead_reads = [
        r.path
        for r, _ in fake_dataverse.journal[before:]
        if r.method == "GET" and r.path == f"leads({lead_id})"
    ]
    assert len(lead_reads) == 2  # the open check, then the closed lead read back once
    assert lead.statecode is LeadState.QUALIFIED
    assert lead.etag == result.lead.etag
    assert lead.formatted("statecode") == result.lead.formatted("statecode")
    assert not lead.changed_fields
    assert lead.etag == client.leads.get(lead_id).etag  # current: the next write gets no 412
