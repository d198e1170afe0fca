"""``client.leads.upsert`` by a tenant alternate key: the inactive-record rule as for ids."""

from __future__ import annotations

import pytest

from d365leads import DataverseClient, InactiveRecordError
from d365leads.errors import DuplicateRecordError, NotFoundError
from d365leads.testing import FakeDataverseFixture

from .fake_helpers import seed_lead, writes

KEY = {"emailaddress1": "ana@example.com"}


@pytest.fixture
def client(fake_dataverse: FakeDataverseFixture) -> DataverseClient:
    fake_dataverse.add_column("lead", "new_score", "int")
    fake_dataverse.add_alternate_key("lead", "emailaddress1")
    # The client reads the new id from OData-EntityId; Dataverse answers an alternate-key
    # upsert in the key form (no GUID), so these tests use the fake's GUID answer.
    fake_dataverse.options.alternate_key_entity_id = "guid"
    client: DataverseClient = fake_dataverse.client()
    return client


def test_upsert_by_key_updates_an_open_lead(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, emailaddress1="Ana@Example.com", new_score=1)
    returned = client.leads.upsert({"subject": "Renewed", "new_score": 5}, key=KEY)
    assert returned is not None and str(returned) == lead_id
    row = fake_dataverse.get("lead", lead_id)
    assert row is not None and (row["subject"], row["new_score"]) == ("Renewed", 5)
    assert len(fake_dataverse.rows("lead")) == 1
    assert writes(fake_dataverse) == ["PATCH leads(emailaddress1='ana@example.com')"]


def test_upsert_by_key_of_an_inactive_lead_is_refused_unless_forced(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    fake_dataverse.options.enforce_inactive_edit_rule = False  # only the client guards it now
    lead_id = seed_lead(fake_dataverse, emailaddress1="ana@example.com", statecode=2, statuscode=6)
    with pytest.raises(InactiveRecordError, match=lead_id):
        client.leads.upsert({"subject": "Changed"}, key=KEY)
    assert writes(fake_dataverse) == []
    row = fake_dataverse.get("lead", lead_id)
    assert row is not None and row["subject"] == "Website inquiry"
    # the key was looked up with a GET first
    [read] = fake_dataverse.requests("GET", "leads(")
    assert read.path.startswith("leads(emailaddress1='ana@example.com')")

    client.leads.upsert({"subject": "Changed"}, key=KEY, force=True)
    row = fake_dataverse.get("lead", lead_id)
    assert row is not None and row["subject"] == "Changed"


def test_upsert_by_key_creates_a_missing_lead(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    new_id = client.leads.upsert({"subject": "New", "lastname": "Lee", "new_score": 9}, key=KEY)
    assert new_id is not None
    row = fake_dataverse.get("lead", new_id)
    assert row is not None
    assert (row["emailaddress1"], row["new_score"], row["statecode"]) == ("ana@example.com", 9, 0)


def test_create_only_and_update_only_by_key(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    with pytest.raises(NotFoundError):
        client.leads.upsert({"subject": "x"}, key=KEY, update_only=True)
    assert fake_dataverse.rows("lead") == []
    client.leads.upsert({"subject": "First"}, key=KEY, create_only=True)
    with pytest.raises(DuplicateRecordError):
        client.leads.upsert({"subject": "Second"}, key=KEY, create_only=True)
    [row] = fake_dataverse.rows("lead")
    assert row["subject"] == "First"
