"""A field job's values checked against the Lead model when the org does not serve its column
definitions (the fake's ``serve_column_definitions`` switch off), against both adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from d365leads.bulk import Journal, Selection, create_bulk_job, plan_bulk_job, run_bulk_job
from d365leads.bulk import update_spec as _update_spec
from d365leads.bulk.changes import CHECKED_BY_MODEL, CHECKED_BY_ORG
from d365leads.errors import InvalidInputError, NotFoundError
from d365leads.fake import FakeOptions
from d365leads.metadata import attributes_metadata_path

ACCOUNT = "5b2c8a3e-0000-0000-0000-000000000001"

# The checks both sources make, with the words the error must carry either way.
SAME_CHECKS = [
    ({"statecode": 1}, "bulk reactivate"),
    ({"statuscode": 6}, "bulk disqualify"),
    ({"jobtitel": "x"}, "no column 'jobtitel'; did you mean jobtitle"),
    ({"createdon": "2026-01-01"}, "lead.createdon is read-only"),
    ({"fullname": "x"}, "lead.fullname is read-only"),
    ({"estimatedamount": "lots"}, "lead.estimatedamount is a number"),
    ({"estimatedclosedate": "next week"}, "lead.estimatedclosedate is a date"),
    ({"parentaccountid": f"contact({ACCOUNT})"}, "points to account"),
    ({"parentaccountid": "account(not-a-guid)"}, "not a GUID"),
    ({"ownerid": None}, "always has an owner"),
    ({"owninguser": f"systemuser({ACCOUNT})"}, "set by Dataverse"),
    ({"versionnumber": 3}, "lead.versionnumber is read-only"),
]


@pytest.fixture(params=["fake_dataverse", "fake_dataverse_server"])
def fake(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def update_spec(client: Any, changes: dict[str, Any]) -> tuple[Any, list[str]]:
    heard: list[str] = []
    return _update_spec(client.session, changes, on_check=heard.append), heard


@pytest.mark.parametrize(("changes", "words"), SAME_CHECKS)
def test_the_org_check_refuses_them(fake_dataverse: Any, changes: Any, words: str) -> None:
    heard: list[str] = []
    with pytest.raises(InvalidInputError, match=words.replace("(", r"\(")) as info:
        _update_spec(fake_dataverse.client().session, changes, on_check=heard.append)
    assert "Lead model" not in str(info.value)
    assert fake_dataverse.requests("PATCH") == [] and fake_dataverse.requests("POST") == []


class TestWithoutColumnDefinitions:
    @pytest.fixture
    def fake_dataverse_options(self) -> FakeOptions:
        return FakeOptions(serve_column_definitions=False)

    def test_the_switch_turns_the_route_off(self, fake: Any) -> None:
        session = fake.client().session
        with pytest.raises(NotFoundError):
            session.get_json(attributes_metadata_path("lead"))
        assert session.get_json("leads", params={"$top": "1"})["value"] == []

    @pytest.mark.parametrize(("changes", "words"), SAME_CHECKS)
    def test_the_model_refuses_the_same_values(
        self, fake_dataverse: Any, changes: Any, words: str
    ) -> None:
        client = fake_dataverse.client()
        heard: list[str] = []
        with pytest.raises(InvalidInputError, match=words.replace("(", r"\(")):
            _update_spec(client.session, changes, on_check=heard.append)
        assert heard in ([], [CHECKED_BY_MODEL])  # offline refusals come before any check
        assert fake_dataverse.requests("PATCH") == [] and fake_dataverse.requests("POST") == []

    def test_a_column_the_model_lacks_is_refused_saying_which_check_ran(self, fake: Any) -> None:
        client = fake.client()
        with pytest.raises(InvalidInputError, match=r"no column 'donotemail'.*Lead model"):
            update_spec(client, {"donotemail": "true"})

    def test_good_values_are_typed_and_the_job_runs(self, fake: Any, tmp_path: Path) -> None:
        (account,) = fake.seed("account", [{"name": "Fabrikam"}])
        ids = list(fake.seed("lead", [{"lastname": f"L{i}"} for i in range(4)]))
        client = fake.client()
        changes = {
            "jobtitle": "Buyer",
            "estimatedamount": "1250.5",
            "estimatedclosedate": "2026-12-31",
            "parentaccountid": f"account({account})",
            "leadsourcecode": "8",
        }
        spec, heard = update_spec(client, changes)
        assert heard == [CHECKED_BY_MODEL]
        assert spec.body["estimatedamount"] == 1250.5 and spec.body["leadsourcecode"] == 8
        selection = Selection(ids=tuple(ids))
        with Journal(tmp_path / "jobs.sqlite") as journal:
            planned: list[str] = []
            plan = plan_bulk_job(client.session, spec, selection, on_check=planned.append)
            job_id = create_bulk_job(client.session, journal, plan, selection)
            summary = run_bulk_job(client.session, journal, job_id)
        assert planned == [CHECKED_BY_MODEL] and summary.ok and summary.counts["done"] == 4
        for lead_id in ids:
            row = fake.get("lead", lead_id)
            assert (row["jobtitle"], row["parentaccountid"], row["leadsourcecode"]) == (
                "Buyer",
                account,
                8,
            )

    def test_a_choice_label_needs_the_number_under_the_model(self, fake_dataverse: Any) -> None:
        with pytest.raises(InvalidInputError, match=r"lead\.leadsourcecode is a number"):
            update_spec(fake_dataverse.client(), {"leadsourcecode": "Web"})


def test_the_org_check_is_named_when_it_ran(fake_dataverse: Any) -> None:
    spec, heard = update_spec(fake_dataverse.client(), {"leadsourcecode": "Web"})
    assert heard == [CHECKED_BY_ORG] and spec.body == {"leadsourcecode": 8}
