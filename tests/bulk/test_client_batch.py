"""``client.batch()`` against the in-process fake: changesets, $n references, continue-on-error."""

from __future__ import annotations

import pytest

from d365leads.errors import BatchError, InvalidStateTransitionError, NotFoundError
from d365leads.fake import FakeDataverse

from .conftest import make_client, seed_leads

MISSING = "00000000-0000-0000-0000-0000000000ff"


def test_changeset_with_content_id_reference(fake: FakeDataverse) -> None:
    client = make_client(fake)
    batch = client.batch()
    with batch.changeset() as cs:
        account = cs.post("accounts", {"name": "Contoso"})
        cs.post("contacts", {"lastname": "Lee", "parentcustomerid_account@odata.bind": account})
    batch.get("accounts", params={"$select": "name"})
    result = batch.execute()
    assert result.ok, result.failed
    account_id = result[0].entity_id
    assert account_id and fake.get("account", account_id)
    contact = fake.get("contact", result[1].entity_id or "")
    assert contact is not None and contact["parentcustomerid"] == account_id
    assert [a["name"] for a in result[2].json()["value"]] == ["Contoso"]


def test_failed_changeset_rolls_back_every_operation(fake: FakeDataverse) -> None:
    client = make_client(fake)
    batch = client.batch()
    with batch.changeset() as cs:
        cs.post("accounts", {"name": "Rolled back"})
        cs.patch(f"leads({MISSING})", {"subject": "x"})
    result = batch.execute()
    assert not result.ok
    assert all(isinstance(r.error, NotFoundError) for r in result)
    assert fake.rows("account", name="Rolled back") == []
    with pytest.raises(BatchError, match="2 of 2 batch operations failed"):
        result.raise_for_errors()


def test_continue_on_error_keeps_neighbours(fake: FakeDataverse) -> None:
    ids = seed_leads(fake, 2, state=0, status=1)
    client = make_client(fake)
    batch = client.batch()
    batch.patch(f"leads({ids[0]})", {"statecode": 2, "statuscode": 5})
    batch.patch(f"leads({ids[1]})", {"statecode": 2, "statuscode": 1})  # invalid pair
    batch.post(
        f"leads({ids[1]})/Microsoft.Dynamics.CRM.QualifyLead",
        {
            "CreateAccount": True,
            "CreateContact": False,
            "CreateOpportunity": True,
            "Status": 3,
        },
    )
    result = batch.execute()
    assert result[0].status == 204
    assert isinstance(result[1].error, InvalidStateTransitionError)
    assert result[2].ok
    assert fake.get("lead", ids[0])["statecode"] == 2  # type: ignore[index]
    assert fake.get("lead", ids[1])["statecode"] == 1  # type: ignore[index]


def test_without_continue_on_error_the_batch_stops(fake: FakeDataverse) -> None:
    ids = seed_leads(fake, 2, state=0, status=1)
    client = make_client(fake)
    batch = client.batch(continue_on_error=False)
    batch.patch(f"leads({ids[0]})", {"subject": "first"})
    batch.patch(f"leads({MISSING})", {"subject": "x"})
    batch.patch(f"leads({ids[1]})", {"subject": "after"})
    with pytest.raises(BatchError, match=r"stopped at a failing operation \(0x80040217"):
        batch.execute()
    assert fake.get("lead", ids[0])["subject"] == "first"  # type: ignore[index]
    assert fake.get("lead", ids[1])["subject"] != "after"  # type: ignore[index]
