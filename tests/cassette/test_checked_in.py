"""The cassettes checked in under ``tests/cassettes/`` replay offline (what CI runs).

They are recorded by ``scripts/record_cassettes.py`` (against the fake server by default, or a
sandbox org with ``--live``); the scenario lives in ``cassette_scenario.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cassette_scenario import LEADS, SUBJECT_PREFIX, run_scenario
from click.testing import CliRunner

from d365leads import DataverseClient, StaticTokenProvider
from d365leads.cassette import Cassette
from d365leads.cli.app import cli
from d365leads.fake import FakeDataverse
from d365leads.fake.adapters.replay import CassettePlayer

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
LIFECYCLE = CASSETTES / "lifecycle" / "lead_lifecycle.json"


def _replay_client(url: str) -> DataverseClient:
    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds}s while replaying")

    return DataverseClient(url, token_provider=StaticTokenProvider("ci"), sleep=no_sleep)


def _check_lifecycle(observed: dict[str, Any]) -> None:
    rep = observed["replayable"]
    ids = rep["ids"]
    assert len(ids) == len(set(ids)) == len(LEADS)
    assert [row[0] for row in rep["paged"]] == ids  # ordered by subject, every page followed
    assert [row[1] for row in rep["paged"]] == [d["subject"] for d in LEADS]
    assert rep["qualified"]["state"] == 1 and rep["qualified"]["status"] == 3
    assert None not in (rep["qualified"]["account"], rep["qualified"]["opportunity"])
    assert rep["disqualified"] == (2, 4) and rep["reactivated"] == (0, 1)
    assert rep["batch"] == [204, 200]
    assert rep["batch_get"]["leadid"] == ids[3]
    assert rep["batch_get"]["emailaddress1"] == LEADS[3]["emailaddress1"]
    assert rep["renamed"] == f"{SUBJECT_PREFIX} 2 (renamed)"
    assert rep["total"] >= len(LEADS)


@pytest.mark.dataverse_cassette(path="../cassettes/lifecycle/lead_lifecycle.json")
def test_lifecycle_replays_through_the_pytest_plugin(dataverse_cassette: Any) -> None:
    client = dataverse_cassette.client()
    _check_lifecycle(run_scenario(client))
    if not dataverse_cassette.recording:
        assert dataverse_cassette.player.misses == []
        assert dataverse_cassette.player.unused == 0


def test_lifecycle_replays_through_the_fake_server() -> None:
    fake = FakeDataverse()
    fake.replay = player = CassettePlayer(LIFECYCLE)
    with fake.serve() as server:
        client = _replay_client(server.url)
        _check_lifecycle(run_scenario(client))
        client.close()
    assert player.misses == [] and player.unused == 0 and fake.rows("lead") == []


@pytest.mark.parametrize(
    "path", sorted(CASSETTES.rglob("*.json")), ids=lambda p: str(p.relative_to(CASSETTES))
)
def test_every_checked_in_cassette_loads_and_uses_the_placeholder_org(path: Path) -> None:
    cassette = Cassette.load(path)
    assert cassette.interactions
    assert cassette.org_url == "https://fake-org.crm.dynamics.com"
    text = path.read_text(encoding="utf-8")
    assert "127.0.0.1" not in text and "Bearer" not in text


def test_the_ci_scan_of_tests_cassettes_passes() -> None:
    result = CliRunner().invoke(cli, ["cassette", "scan", str(CASSETTES)])
    assert result.exit_code == 0, result.stderr
    assert "no secrets or personal data found" in result.stderr
