"""CreateMultiple, UpdateMultiple, UpsertMultiple and the sdkmessagefilters announcing them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _core_api import Api, error_of, make_api

from d365leads.fake import FakeDataverse, FakeOptions

LEAD = "Microsoft.Dynamics.CRM.lead"


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


def _lead(**columns: Any) -> dict[str, Any]:
    return {"@odata.type": LEAD, **columns}


def _names(fake: FakeDataverse) -> list[str]:
    return sorted(str(r["lastname"]) for r in fake.rows("lead"))


def test_create_multiple_answers_the_new_ids_in_order(api: Api) -> None:
    response = api.post(
        "leads/Microsoft.Dynamics.CRM.CreateMultiple",
        json={"Targets": [_lead(lastname="A"), _lead(lastname="B", companyname="Co")]},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith(
        "$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse"
    )
    rows = [api.fake.get("lead", i) for i in body["Ids"]]
    assert [(r["lastname"], r.get("companyname")) for r in rows if r] == [("A", None), ("B", "Co")]


def test_create_multiple_is_all_or_nothing(api: Api) -> None:
    response = api.post(
        "leads/Microsoft.Dynamics.CRM.CreateMultiple",
        json={"Targets": [_lead(lastname="A"), _lead(lastname="B", nosuchcolumn=1)]},
    )

    assert response.status_code == 400
    assert "nosuchcolumn" in error_of(response)["message"]
    assert api.fake.rows("lead") == []


def test_update_multiple_updates_each_target_and_answers_204(api: Api) -> None:
    ids = api.fake.seed("lead", [{"lastname": "A"}, {"lastname": "B"}, {"lastname": "C"}])

    response = api.post(
        "leads/Microsoft.Dynamics.CRM.UpdateMultiple",
        json={"Targets": [_lead(leadid=i, companyname=f"Co{n}") for n, i in enumerate(ids[:2])]},
    )

    assert response.status_code == 204
    assert [api.fake.get("lead", i).get("companyname") for i in ids] == ["Co0", "Co1", None]  # type: ignore[union-attr]


def test_update_multiple_with_one_missing_record_writes_nothing(api: Api) -> None:
    (known,) = api.fake.seed("lead", [{"lastname": "A", "companyname": "Old"}])
    missing = "00000000-0000-0000-0000-0000000000aa"

    response = api.post(
        "leads/Microsoft.Dynamics.CRM.UpdateMultiple",
        json={"Targets": [_lead(leadid=known, companyname="New"), _lead(leadid=missing)]},
    )

    assert response.status_code == 404
    assert missing in error_of(response)["message"]
    assert api.fake.get("lead", known)["companyname"] == "Old"  # type: ignore[index]


def test_upsert_multiple_by_alternate_key_and_by_id(api: Api) -> None:
    api.fake.add_alternate_key("lead", "emailaddress1")
    (known,) = api.fake.seed("lead", [{"lastname": "Old", "emailaddress1": "ada@example.com"}])
    new_id = "00000000-0000-0000-0000-0000000000bb"

    response = api.post(
        "leads/Microsoft.Dynamics.CRM.UpsertMultiple",
        json={
            "Targets": [
                _lead(lastname="Ada", **{"@odata.id": "leads(emailaddress1='ada@example.com')"}),
                _lead(lastname="Bo", **{"@odata.id": "leads(emailaddress1='bo@example.com')"}),
                _lead(lastname="Cy", leadid=new_id),
            ]
        },
    )

    assert response.status_code == 200
    ids = response.json()["Ids"]
    assert ids[0] == known and ids[2] == new_id
    assert api.fake.get("lead", known)["lastname"] == "Ada"  # type: ignore[index]
    assert api.fake.get("lead", ids[1])["emailaddress1"] == "bo@example.com"  # type: ignore[index]
    assert _names(api.fake) == ["Ada", "Bo", "Cy"]


@pytest.mark.parametrize(
    ("message", "body", "status", "words"),
    [
        ("CreateMultiple", {"Targets": []}, 400, "non-empty"),
        ("CreateMultiple", {"Targets": [{"lastname": "A"}]}, 400, "@odata.type"),
        ("CreateMultiple", {"Targets": [_lead(lastname="A")], "Other": 1}, 400, "'Other'"),
        (
            "CreateMultiple",
            {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "A"}]},
            400,
            "account",
        ),
        ("UpdateMultiple", {"Targets": [_lead(lastname="A")]}, 400, "leadid"),
        ("UpsertMultiple", {"Targets": [_lead(lastname="A")]}, 400, "@odata.id"),
        (
            "UpsertMultiple",
            {"Targets": [_lead(**{"@odata.id": "accounts(00000000-0000-0000-0000-000000000001)"})]},
            400,
            "account",
        ),
    ],
)
def test_bad_requests_are_refused_with_a_specific_error(
    api: Api, message: str, body: dict[str, Any], status: int, words: str
) -> None:
    response = api.post(f"leads/Microsoft.Dynamics.CRM.{message}", json=body)

    assert response.status_code == status
    assert words in error_of(response)["message"]
    assert api.fake.rows("lead") == []


def test_more_targets_than_the_limit_are_refused() -> None:
    fake = FakeDataverse(options=FakeOptions(bulk_message_max_targets=3))
    with fake.mock():
        api = Api(fake, fake.base_url, "inprocess")
        response = api.post(
            "leads/Microsoft.Dynamics.CRM.CreateMultiple",
            json={"Targets": [_lead(lastname=str(n)) for n in range(4)]},
        )
        assert response.status_code == 400
        assert "4 targets; the maximum is 3" in error_of(response)["message"]
        ok = api.post(
            "leads/Microsoft.Dynamics.CRM.CreateMultiple",
            json={"Targets": [_lead(lastname=str(n)) for n in range(3)]},
        )
        assert ok.status_code == 200
    assert _names(fake) == ["0", "1", "2"]


@pytest.mark.parametrize("allowed", [True, False])
def test_state_changes_in_update_multiple_follow_the_switch(allowed: bool) -> None:
    fake = FakeDataverse(options=FakeOptions(update_multiple_sets_state=allowed))
    (lead,) = fake.seed("lead", [{"lastname": "A"}])
    with fake.mock():
        api = Api(fake, fake.base_url, "inprocess")
        response = api.post(
            "leads/Microsoft.Dynamics.CRM.UpdateMultiple",
            json={"Targets": [_lead(leadid=lead, statecode=2, statuscode=6)]},
        )
    row = fake.get("lead", lead)
    assert row is not None
    if allowed:
        assert response.status_code == 204
        assert (row["statecode"], row["statuscode"]) == (2, 6)
    else:
        assert response.status_code == 400
        assert error_of(response)["code"] == "0x80040203"
        assert row["statecode"] == 0


def _supported(api: Api, table: str) -> set[str]:
    # Spaces as %20: reading "+" as a space is another change (issue 12, wire decoding).
    response = api.get(
        "sdkmessagefilters?$select=sdkmessagefilterid&$expand=sdkmessageid($select=name)"
        f"&$filter=primaryobjecttypecode%20eq%20'{table}'"
    )
    assert response.status_code == 200, response.text
    return {row["sdkmessageid"]["name"] for row in response.json()["value"]}


def test_sdkmessagefilters_announce_the_bulk_messages_of_the_tables_that_answer_them() -> None:
    fake = FakeDataverse(options=FakeOptions(bulk_message_tables=("account",)))
    with fake.mock():
        api = Api(fake, fake.base_url, "inprocess")
        assert {"CreateMultiple", "UpdateMultiple", "UpsertMultiple"} <= _supported(api, "account")
        lead_messages = _supported(api, "lead")
        assert "UpdateMultiple" not in lead_messages
        assert {"Create", "Update", "QualifyLead"} <= lead_messages
        refused = api.post(
            "leads/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [_lead(lastname="A")]}
        )
        assert refused.status_code == 404
        created = api.post(
            "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
            json={"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "A"}]},
        )
        assert created.status_code == 200
    assert fake.rows("lead") == []


def test_a_bulk_message_costs_one_overhead_plus_a_lower_cost_per_record() -> None:
    options = FakeOptions(op_cost_ms=100.0, bulk_message_record_cost=0.25)
    fake = FakeDataverse(options=options, sleep=lambda seconds: None)
    ids = fake.seed("lead", [{"lastname": str(n)} for n in range(8)])
    with fake.mock():
        api = Api(fake, fake.base_url, "inprocess")
        before = fake.latency.simulated_s
        api.post(
            "leads/Microsoft.Dynamics.CRM.UpdateMultiple",
            json={"Targets": [_lead(leadid=i, companyname="X") for i in ids]},
        )
        bulk_s = fake.latency.simulated_s - before
        api.patch(f"leads({ids[0]})", json={"companyname": "Y"})
        single_s = fake.latency.simulated_s - before - bulk_s
    assert bulk_s == pytest.approx(0.1 * (1 + 8 * 0.25))
    assert single_s == pytest.approx(0.1)
