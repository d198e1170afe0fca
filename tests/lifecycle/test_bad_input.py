"""Bad input: each case gets its specific error, and nothing is written."""

from __future__ import annotations

import uuid

import pytest

from d365leads import (
    DataverseClient,
    DisqualifyReason,
    InvalidIdError,
    InvalidStatusError,
    LeadClosedError,
    LeadStatus,
    NotFoundError,
    PreconditionFailedError,
)
from d365leads.testing import FakeDataverseFixture

from .fake_helpers import seed_lead, snapshot, writes


@pytest.fixture
def client(fake_dataverse: FakeDataverseFixture) -> DataverseClient:
    client: DataverseClient = fake_dataverse.client()
    return client


@pytest.mark.parametrize("bad", ["12345", "not-a-guid", "", "f282fa8b-0000-0000-0000-00000000001Z"])
def test_malformed_lead_id_is_refused_before_any_request(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient, bad: str
) -> None:
    calls = [
        lambda: client.leads.qualify(bad),
        lambda: client.leads.disqualify(bad, DisqualifyReason.LOST),
        lambda: client.leads.reactivate(bad),
        lambda: client.leads.get(bad),
        lambda: client.leads.update(bad, {"subject": "x"}),
        lambda: client.leads.delete(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidIdError, match="GUID"):
            call()
    assert fake_dataverse.journal == []


def test_unknown_reason_is_refused_and_nothing_changes(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, lastname="Lee")
    before = snapshot(fake_dataverse)
    for reason in (999, LeadStatus.QUALIFIED, LeadStatus.NEW):
        with pytest.raises(InvalidStatusError, match="Disqualified"):
            client.leads.disqualify(lead_id, reason)
    with pytest.raises(InvalidStatusError):
        client.leads.disqualify(lead_id, "Lost")  # type: ignore[arg-type]
    with pytest.raises(InvalidStatusError, match="Open"):
        client.leads.reactivate(lead_id, LeadStatus.LOST)
    with pytest.raises(InvalidStatusError, match="Qualified"):
        client.leads.qualify(lead_id, status=LeadStatus.CANCELED)
    assert writes(fake_dataverse) == []
    assert snapshot(fake_dataverse) == before


def test_closed_lead_is_refused_for_qualify_and_disqualify(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, lastname="Lee", statecode=2, statuscode=4)
    before = snapshot(fake_dataverse)
    with pytest.raises(LeadClosedError):
        client.leads.qualify(lead_id)
    with pytest.raises(LeadClosedError, match="reactivate it before"):
        client.leads.disqualify(lead_id, DisqualifyReason.CANCELED)
    assert writes(fake_dataverse) == []
    assert snapshot(fake_dataverse) == before


def test_lead_that_does_not_exist(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    missing = str(uuid.uuid4())
    before = snapshot(fake_dataverse)
    with pytest.raises(NotFoundError, match="Does Not Exist"):
        client.leads.qualify(missing)
    with pytest.raises(NotFoundError):
        client.leads.disqualify(missing, DisqualifyReason.LOST)
    with pytest.raises(NotFoundError):
        client.leads.reactivate(missing)
    with pytest.raises(NotFoundError):
        client.leads.update(missing, {"subject": "x"})
    assert writes(fake_dataverse) == []
    assert snapshot(fake_dataverse) == before


def test_stale_etag_is_refused_by_the_server_and_nothing_changes(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, lastname="Lee", subject="Original")
    mine = client.leads.get(lead_id)
    theirs = client.leads.get(lead_id)
    theirs.subject = "Their edit"
    client.leads.update(theirs)
    before = snapshot(fake_dataverse)
    mine.subject = "My edit"
    with pytest.raises(PreconditionFailedError):
        client.leads.update(mine)
    assert snapshot(fake_dataverse) == before
    assert fake_dataverse.get("lead", lead_id)["subject"] == "Their edit"  # type: ignore[index]
    assert mine.changed_fields == {"subject"}
    with pytest.raises(PreconditionFailedError):
        client.leads.disqualify(mine, DisqualifyReason.LOST)
    assert fake_dataverse.get("lead", lead_id)["statecode"] == 0  # type: ignore[index]
