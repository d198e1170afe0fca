"""``MSCRM.BypassBusinessLogicExecution``: the fake checks it and the privilege; jobs send it."""

from __future__ import annotations

from typing import Any

import pytest

from d365leads.bulk import (
    Journal,
    Selection,
    create_bulk_job,
    plan_bulk_job,
    run_bulk_job,
    update_spec,
)
from d365leads.errors import PermissionDeniedError
from d365leads.fake import FakeOptions

BYPASS = {"MSCRM.BypassBusinessLogicExecution": "CustomSync,CustomAsync"}


@pytest.fixture(params=["fake_dataverse", "fake_dataverse_server"])
def fake(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def test_a_bypass_is_accepted_and_a_bad_value_refused(fake: Any) -> None:
    (lead,) = fake.seed("lead", [{"lastname": "Lee"}])
    session = fake.client().session
    session.request("PATCH", f"leads({lead})", json={"jobtitle": "A"}, headers=BYPASS)
    assert fake.get("lead", lead)["jobtitle"] == "A"
    with pytest.raises(Exception, match="is not valid: use CustomSync"):
        session.request(
            "PATCH",
            f"leads({lead})",
            json={"jobtitle": "B"},
            headers={"MSCRM.BypassBusinessLogicExecution": "Everything"},
        )
    assert fake.get("lead", lead)["jobtitle"] == "A"


class TestWithoutThePrivilege:
    @pytest.fixture
    def fake_dataverse_options(self) -> FakeOptions:
        return FakeOptions(bypass_logic_privilege=False)

    def test_plain_writes_pass_and_bypassing_ones_are_refused(self, fake: Any) -> None:
        (lead,) = fake.seed("lead", [{"lastname": "Lee"}])
        client = fake.client()
        client.session.request("PATCH", f"leads({lead})", json={"jobtitle": "plain"})
        with pytest.raises(PermissionDeniedError, match="prvBypassCustomBusinessLogic") as info:
            client.session.request(
                "PATCH", f"leads({lead})", json={"jobtitle": "x"}, headers=BYPASS
            )
        assert info.value.code == "0x80040220"
        batch = client.batch(continue_on_error=True)
        batch.patch(f"leads({lead})", {"jobtitle": "y"}, headers=BYPASS)
        (part,) = batch.execute()
        assert part.status == 403 and part.error is not None
        assert fake.get("lead", lead)["jobtitle"] == "plain"

    def test_a_bulk_update_with_bypass_stops_and_writes_nothing(
        self, fake: Any, tmp_path: Any
    ) -> None:
        ids = fake.seed("lead", [{"lastname": f"L{n}"} for n in range(4)])
        client = fake.client()
        spec = update_spec(client.session, {"jobtitle": "x"}, bypass_custom_logic=True)
        selection = Selection(ids=tuple(ids))
        with Journal(tmp_path / "j.sqlite") as journal:
            plan = plan_bulk_job(client.session, spec, selection)
            job_id = create_bulk_job(client.session, journal, plan, selection)
            with pytest.raises(PermissionDeniedError, match="prvBypassCustomBusinessLogic"):
                run_bulk_job(client.session, journal, job_id)
        assert all(fake.get("lead", i).get("jobtitle") is None for i in ids)
