"""The pytest fixtures of the fake (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions
from d365leads.testing import FakeDataverseFixture, FakeServerFixture, fake_client


def test_in_process_fixture_client_and_recorded_sleeps(
    fake_dataverse: FakeDataverseFixture,
) -> None:
    client = fake_dataverse.client()
    fake_dataverse.faults.throttle_next(1, retry_after=7)

    who = client.whoami()

    assert who.user_id == fake_dataverse.caller_id
    assert fake_dataverse.sleeps == [7.0]  # the client's retry asked to wait; nobody waited
    assert [(r.method, r.path) for r in fake_dataverse.requests()] == [
        ("GET", "WhoAmI"),
        ("GET", "WhoAmI"),
    ]
    lead_id = client.records.create("leads", {"subject": "From the fixture"})
    row = fake_dataverse.get("lead", str(lead_id))
    assert row is not None and row["subject"] == "From the fixture"


def test_in_process_fixture_blocks_other_hosts(fake_dataverse: FakeDataverseFixture) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("https://example.com/", timeout=5)


def test_server_fixture_is_a_real_server(fake_dataverse_server: FakeServerFixture) -> None:
    ids = fake_dataverse_server.seed("lead", [{"subject": "Served"}])
    client = fake_dataverse_server.client()

    assert fake_dataverse_server.url.startswith("http://127.0.0.1:")
    row = client.records.get("leads", ids[0], select=["subject"])
    assert row["subject"] == "Served"
    assert fake_dataverse_server.journal[-1][0].url.startswith(fake_dataverse_server.url)


class TestOptionsOverride:
    @pytest.fixture
    def fake_dataverse_options(self) -> FakeOptions:
        return FakeOptions(strict_auth=True)

    def test_options_fixture_can_be_overridden(self, fake_dataverse: FakeDataverseFixture) -> None:
        assert fake_dataverse.options.strict_auth is True
        refused = requests.get(
            fake_dataverse.base_url + "WhoAmI", headers={"Authorization": "Bearer fake-token"}
        )
        assert refused.status_code == 401
        fake_dataverse.accepted_tokens.add("fake-token")
        assert fake_dataverse.client().whoami().user_id == fake_dataverse.caller_id


def test_fake_client_outside_the_fixtures() -> None:
    fake = FakeDataverse()
    sleeps: list[float] = []
    with fake.mock():
        client = fake_client(fake.org_url, sleep=sleeps.append)
        fake.faults.throttle_next(1, retry_after=3)
        assert client.whoami().user_id == fake.caller_id
        client.close()
    assert sleeps == [3.0]


def test_fixtures_without_the_client_plugin_name_what_is_missing(
    pytester: pytest.Pytester,
) -> None:
    # The fake's plugin works alone (it imports nothing of the client); only .client() needs
    # d365leads.testing, and says so.
    pytester.makepyfile(
        """
        import pytest

        def test_seed_works(fake_dataverse):
            assert fake_dataverse.seed("lead", [{"subject": "x"}])

        def test_client_needs_the_client_plugin(fake_dataverse):
            with pytest.raises(RuntimeError, match="pytest_fake_dataverse_client"):
                fake_dataverse.client()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:d365leads_testing")
    result.assert_outcomes(passed=2)
