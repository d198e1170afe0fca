"""Tenant columns (``new_*``) through the public client API against a customised fake."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from d365leads import DataverseClient, Lead, Query, col
from d365leads.errors import BadRequestError
from d365leads.testing import FakeDataverseFixture

from .fake_helpers import seed_lead

CUSTOM = (
    ("new_score", "int"),
    ("new_segment", "string"),
    ("new_budget", "money"),
    ("new_nextcall", "datetime"),
    ("new_vip", "bool"),
)


@pytest.fixture
def client(fake_dataverse: FakeDataverseFixture) -> DataverseClient:
    for name, kind in CUSTOM:
        fake_dataverse.add_column("lead", name, kind)
    client: DataverseClient = fake_dataverse.client()
    return client


def _patch_bodies(fake: FakeDataverseFixture) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in fake.requests("PATCH", "leads(")]


def test_a_read_lead_keeps_tenant_columns_as_extra_fields(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(
        fake_dataverse,
        new_score=42,
        new_segment="Enterprise",
        new_budget=1500.25,
        new_nextcall="2026-03-01T10:30:00Z",
        new_vip=True,
    )
    lead = client.leads.get(lead_id)
    assert lead.subject == "Website inquiry"
    extra = lead.extra
    assert extra["new_score"] == 42
    assert extra["new_segment"] == "Enterprise"
    assert Decimal(str(extra["new_budget"])) == Decimal("1500.25")
    assert extra["new_nextcall"] == "2026-03-01T10:30:00Z"
    assert extra["new_vip"] is True
    # the org formats tenant columns too, and the model exposes the labels
    assert lead.formatted("new_vip") == "Yes"


def test_editing_a_modelled_field_patches_only_that_field(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, new_score=42, new_segment="SMB")
    lead = client.leads.get(lead_id)
    lead.subject = "Renewed interest"
    client.leads.update(lead)
    assert _patch_bodies(fake_dataverse) == [{"subject": "Renewed interest"}]
    row = fake_dataverse.get("lead", lead_id)
    assert row is not None
    assert (row["subject"], row["new_score"], row["new_segment"]) == ("Renewed interest", 42, "SMB")


def test_a_tenant_column_round_trips_on_update_and_create(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, new_score=1)
    lead = client.leads.get(lead_id)
    lead.new_score = 7  # type: ignore[attr-defined]  # a tenant column, kept as an extra field
    client.leads.update(lead)
    assert _patch_bodies(fake_dataverse) == [{"new_score": 7}]
    assert client.leads.get(lead_id).extra["new_score"] == 7

    created = client.leads.create(
        {
            "subject": "From the web form",
            "lastname": "Novak",
            "new_score": 55,
            "new_segment": "Public sector",
            "new_vip": False,
            "new_nextcall": "2026-04-02T08:00:00Z",
        }
    )
    assert created.id is not None
    assert created.extra["new_score"] == 55 and created.extra["new_vip"] is False
    stored = fake_dataverse.get("lead", created.id)
    assert stored is not None
    assert stored["new_segment"] == "Public sector"
    assert stored["new_nextcall"] == "2026-04-02T08:00:00Z"

    # a Lead model built in code carries the tenant column as well
    model = Lead(subject="Typed model", lastname="Ito", new_score=3)  # type: ignore[call-arg]
    made = client.leads.create(model)
    assert made.extra["new_score"] == 3


def test_a_wrong_type_for_a_tenant_column_is_refused_by_the_org(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    lead_id = seed_lead(fake_dataverse, new_score=1)
    with pytest.raises(BadRequestError, match="new_score"):
        client.records.update("leads", lead_id, {"new_score": "high"})
    row = fake_dataverse.get("lead", lead_id)
    assert row is not None and row["new_score"] == 1


def test_records_filter_and_order_on_a_tenant_column(
    fake_dataverse: FakeDataverseFixture, client: DataverseClient
) -> None:
    for score, vip, call in [
        (10, False, "2026-02-01T09:00:00Z"),
        (90, True, "2026-02-03T09:00:00Z"),
        (50, True, None),
        (70, False, "2026-02-02T09:00:00Z"),
    ]:
        seed_lead(
            fake_dataverse,
            subject=f"Score {score}",
            new_score=score,
            new_vip=vip,
            new_nextcall=call,
        )
    query = (
        Query("leads")
        .where(col("new_score") >= 50)
        .order_by("new_score desc")
        .select("subject", "new_score")
    )
    rows = list(client.records.query("leads", query))
    assert [r["new_score"] for r in rows] == [90, 70, 50]
    assert all(set(r) >= {"subject", "new_score"} for r in rows)

    vip = Query("leads").where((col("new_vip") == True) & (col("new_score") < 80))  # noqa: E712
    assert [r["subject"] for r in client.records.query("leads", vip)] == ["Score 50"]

    since = datetime(2026, 2, 1, 12, tzinfo=timezone.utc)
    by_call = Query("leads").where(col("new_nextcall") > since).order_by("new_nextcall")
    assert [r["new_score"] for r in client.records.query("leads", by_call)] == [70, 90]

    typed = list(client.leads.list(col("new_segment") == None))  # noqa: E711
    assert len(typed) == 4
