"""create_many / update_many / upsert_many against both adapters of the fake."""

from __future__ import annotations

from typing import Any

import pytest

from d365leads import DataverseClient, InvalidInputError, StaticTokenProvider
from d365leads.fake import FakeDataverse, FakeOptions
from d365leads.models import Lead


@pytest.fixture(params=["fake_dataverse", "fake_dataverse_server"])
def fake(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _sent(fake: Any, what: str) -> int:
    return sum(1 for r in fake.requests("POST") if r.path.endswith(what))


def _probes(fake: Any) -> int:
    return len(fake.requests("GET", "sdkmessagefilters"))


def test_update_many_goes_through_update_multiple_in_chunks(fake: Any) -> None:
    ids = fake.seed("lead", [{"lastname": f"L{n}"} for n in range(25)])
    client = fake.client()

    result = client.records.update_many("leads", ids[:23], {"companyname": "Bulk"}, chunk_size=10)

    assert result.ok and len(result) == 23
    assert result.ids == ids[:23]
    assert result.paths == {"UpdateMultiple": 23}
    assert result.requests["UpdateMultiple"] == 3 == _sent(fake, "UpdateMultiple")
    companies = [fake.get("lead", i).get("companyname") for i in ids]
    assert companies == ["Bulk"] * 23 + [None, None]
    assert _probes(fake) == 1
    client.records.update_many("leads", [(ids[24], {"companyname": "Again"})])
    assert _probes(fake) == 1  # support is cached per table


def test_a_failed_chunk_is_resent_as_batch_and_reports_the_one_bad_record(fake: Any) -> None:
    ids = fake.seed("lead", [{"lastname": f"L{n}"} for n in range(6)])
    missing = "00000000-0000-0000-0000-00000000dead"
    client = fake.client()
    updates = [(i, {"companyname": "Fixed"}) for i in ids[:3]]
    updates.insert(1, (missing, {"companyname": "Fixed"}))

    result = client.records.update_many("leads", updates)

    assert not result.ok
    (bad,) = result.failed
    assert (bad.index, bad.id, bad.status, bad.path) == (1, missing, 404, "$batch")
    assert bad.error_code == "0x80040217"
    assert [o.ok for o in result] == [True, False, True, True]
    assert [fake.get("lead", i).get("companyname") for i in ids[:4]] == ["Fixed"] * 3 + [None]
    assert result.requests == {"UpdateMultiple": 1, "$batch": 1}


def test_create_many_returns_the_new_ids_in_order(fake: Any) -> None:
    client = fake.client()

    result = client.records.create_many(
        "leads", [{"lastname": f"C{n}", "subject": "s"} for n in range(5)], chunk_size=2
    )

    assert result.ok and result.paths == {"CreateMultiple": 5}
    assert [fake.get("lead", i)["lastname"] for i in result.ids] == [f"C{n}" for n in range(5)]
    assert result.requests["CreateMultiple"] == 3


def test_create_many_with_a_bad_row_writes_the_others(fake: Any) -> None:
    client = fake.client()
    rows: list[dict[str, Any]] = [{"lastname": "A"}, {"lastname": "B", "budgetamount": "lots"}]
    rows.append({"lastname": "C"})

    result = client.records.create_many("leads", rows)

    assert [o.ok for o in result] == [True, False, True]
    assert result.failed[0].status == 400
    assert sorted(r["lastname"] for r in fake.rows("lead")) == ["A", "C"]


def test_upsert_many_by_alternate_key(fake: Any) -> None:
    fake.add_alternate_key("lead", "emailaddress1")
    (known,) = fake.seed("lead", [{"lastname": "Old", "emailaddress1": "ada@example.com"}])
    client = fake.client()

    result = client.records.upsert_many(
        "leads",
        [
            {"emailaddress1": "ada@example.com", "lastname": "Ada"},
            {"emailaddress1": "bo@example.com", "lastname": "Bo"},
        ],
        key="emailaddress1",
    )

    assert result.ok and result.paths == {"UpsertMultiple": 2}
    assert result.ids[0] == known
    assert fake.get("lead", known)["lastname"] == "Ada"
    assert fake.get("lead", result.ids[1])["emailaddress1"] == "bo@example.com"
    assert _sent(fake, "UpsertMultiple") == 1


def test_upsert_many_refuses_a_row_without_its_key_before_sending(fake: Any) -> None:
    client = fake.client()

    with pytest.raises(InvalidInputError, match="row 1 has no value for the key"):
        client.records.upsert_many(
            "leads", [{"emailaddress1": "a@example.com"}, {"lastname": "B"}], key="emailaddress1"
        )

    assert fake.requests("POST") == []


class TestWithoutLeadMessagesNorStateInUpdateMultiple:
    @pytest.fixture
    def fake_dataverse_options(self) -> FakeOptions:
        return FakeOptions(bulk_message_tables=("account",), update_multiple_sets_state=False)

    def test_tables_without_the_messages_fall_back_to_batch(self, fake: Any) -> None:
        ids = fake.seed("lead", [{"lastname": f"L{n}"} for n in range(3)])
        client = fake.client()

        result = client.records.update_many("leads", ids, {"companyname": "B"})

        assert result.ok and result.paths == {"$batch": 3}
        assert _sent(fake, "UpdateMultiple") == 0
        assert [fake.get("lead", i)["companyname"] for i in ids] == ["B"] * 3

    def test_state_changes_probe_update_multiple_once_then_use_batch(self, fake: Any) -> None:
        *accounts, active = fake.seed("account", [{"name": f"A{n}"} for n in range(5)])
        client = fake.client()

        result = client.records.update_many("accounts", accounts, {"statecode": 1, "statuscode": 2})

        assert result.ok
        assert result.paths == {"$batch": 4}
        assert _sent(fake, "UpdateMultiple") == 1  # the probe, refused: nothing written by it
        assert client.records.multiple.support.state_in_update_multiple("account") is False
        assert [fake.get("account", i)["statecode"] for i in accounts] == [1, 1, 1, 1]
        renamed = client.records.update_many("accounts", [active], {"name": "Renamed"})
        assert renamed.paths == {"UpdateMultiple": 1}


def test_typed_resources_and_bypass_header(fake: Any) -> None:
    client = fake.client()

    created = client.leads.create_many([Lead(lastname="T1"), {"lastname": "T2"}])
    updated = client.leads.update_many(created.ids, {"companyname": "Typed"},
                                       bypass_custom_logic=True)  # fmt: skip

    assert created.ok and updated.ok
    assert [fake.get("lead", i)["companyname"] for i in created.ids] == ["Typed", "Typed"]
    (sent,) = [r for r in fake.requests("POST") if r.path.endswith("UpdateMultiple")]
    assert sent.header("MSCRM.BypassBusinessLogicExecution") == "CustomSync,CustomAsync"
    (plain,) = [r for r in fake.requests("POST") if r.path.endswith("CreateMultiple")]
    assert plain.header("MSCRM.BypassBusinessLogicExecution") is None


def test_state_changes_stay_in_update_multiple_where_the_org_accepts_them(fake: Any) -> None:
    ids = fake.seed("lead", [{"lastname": f"L{n}"} for n in range(3)])
    client = fake.client()

    result = client.records.update_many("leads", ids, {"statecode": 2, "statuscode": 6})

    assert result.ok and result.paths == {"UpdateMultiple": 3}
    assert client.records.multiple.support.state_in_update_multiple("lead") is True
    assert result.requests == {"UpdateMultiple": 2}  # the one-record probe, then the rest
    assert [fake.get("lead", i)["statuscode"] for i in ids] == [6, 6, 6]


def test_chunks_go_out_on_up_to_max_workers_threads() -> None:
    # Each request really sleeps 50 ms in-process so that parallel chunks overlap.
    fake = FakeDataverse(options=FakeOptions(latency_ms=50.0, sleep_in_process=True))
    ids = fake.seed("lead", [{"lastname": f"L{n}"} for n in range(40)])
    with (
        fake.mock(),
        DataverseClient(
            fake.org_url, token_provider=StaticTokenProvider("t"), sleep=lambda _s: None
        ) as client,
    ):
        result = client.records.update_many(
            "leads", ids, {"companyname": "P"}, chunk_size=10, max_workers=4
        )
    assert result.ok and result.ids == ids
    assert result.requests["UpdateMultiple"] == 4
    assert fake.protection.stats.peak_concurrency >= 2
    assert {fake.get("lead", i)["companyname"] for i in ids} == {"P"}
