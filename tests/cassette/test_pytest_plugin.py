"""The ``dataverse_cassette`` pytest plugin end to end, with pytest's own ``pytester``.

A generated test file is run with ``--record-mode=once`` against the fake server (the org a
team would record against), then again with the default mode ``none`` and the server stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from d365leads.cassette import Cassette, scan_paths

TOKEN = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJwbHVnaW4tdGVzdCJ9.c2lnbmF0dXJlLWJ5dGVz"

LIFECYCLE_TEST = """
import pytest
from d365leads.models.enums import DisqualifyReason

@pytest.mark.dataverse_cassette
def test_lifecycle(dataverse_cassette):
    client = dataverse_cassette.client()
    lead = client.leads.create(
        {"subject": "Plugin lead", "lastname": "Hopper", "emailaddress1": "grace@navy.mil"}
    )
    assert client.leads.get(lead.id).subject == "Plugin lead"
    closed = client.leads.disqualify(lead.id, DisqualifyReason.LOST)
    assert (int(closed.statecode), int(closed.statuscode)) == (2, 4)
    assert int(client.leads.reactivate(lead.id).statecode) == 0
"""

FAILING_TEST = """
def test_breaks(dataverse_cassette):
    client = dataverse_cassette.client()
    client.whoami()
    assert False, "the code under test is broken"
"""

CHANGED_TEST = """
import pytest

@pytest.mark.dataverse_cassette(path="cassettes/shared.json")
def test_changed(dataverse_cassette):
    client = dataverse_cassette.client()
    client.leads.create({"subject": "Not what was recorded"})
"""


# The inner runs need neither hypothesis (slow to start) nor a cache folder.
INNER = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*INNER, *args)


def _cassette(pytester: pytest.Pytester, module: str, test: str) -> Path:
    return pytester.path / "tests" / "cassettes" / module / f"{test}.json"


@pytest.fixture
def org(fake_dataverse_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point ``DataverseClient.from_env()`` at the fake server, as a team points it at its org."""
    monkeypatch.setenv("D365_URL", fake_dataverse_server.url)
    monkeypatch.setenv("D365_ACCESS_TOKEN", TOKEN)
    return fake_dataverse_server


def test_record_once_then_replay_offline(
    pytester: pytest.Pytester, org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_inner_recorded=LIFECYCLE_TEST)
    recorded = _run(pytester, "--record-mode=once")
    recorded.assert_outcomes(passed=1)
    path = _cassette(pytester, "test_inner_recorded", "test_lifecycle")
    assert path.exists()
    assert len(org.rows("lead")) == 1  # it really went to the org
    text = path.read_text(encoding="utf-8")
    assert TOKEN not in text and "Bearer" not in text and "127.0.0.1" not in text
    assert "grace@navy.mil" not in text and '"Hopper"' not in text
    assert scan_paths([path]) == ([], 1)

    # CI: the org is gone, no credentials, default mode (none) -> replayed from the cassette.
    org.close()
    monkeypatch.delenv("D365_URL")
    monkeypatch.delenv("D365_ACCESS_TOKEN")
    replayed = _run(pytester)
    replayed.assert_outcomes(passed=1)
    assert len(org.rows("lead")) == 1
    # once + an existing cassette also replays (and does not rewrite the file).
    before = path.stat().st_mtime_ns
    _run(pytester, "--record-mode=once").assert_outcomes(passed=1)
    assert path.stat().st_mtime_ns == before


def test_a_failing_test_saves_no_cassette(pytester: pytest.Pytester, org: Any) -> None:
    pytester.makepyfile(test_inner_failing=FAILING_TEST)
    result = _run(pytester, "--record-mode=once")
    result.assert_outcomes(failed=1)
    assert len(org.requests("GET", "WhoAmI")) == 1  # recorded traffic existed, then was dropped
    assert not _cassette(pytester, "test_inner_failing", "test_breaks").exists()
    assert not (pytester.path / "tests" / "cassettes").exists()


def test_mode_none_without_a_cassette_fails_with_the_recording_hint(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_inner_unrecorded=LIFECYCLE_TEST)
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no cassette at *test_lifecycle.json*--record-mode=once*"])


def test_replay_of_a_changed_request_fails_naming_the_closest_interaction(
    pytester: pytest.Pytester, org: Any
) -> None:
    original = CHANGED_TEST.replace("Not what was recorded", "Recorded")
    pytester.makepyfile(test_inner_changed=original)
    _run(pytester, "--record-mode=once").assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "shared.json"  # marker path, relative to the test
    assert Cassette.load(cassette).interactions[0].request.body == {"subject": "Recorded"}
    org.close()
    pytester.makepyfile(test_inner_changed=CHANGED_TEST)
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*CassetteMismatch*Closest recorded interaction #1: POST /api/data/v9.2/leads*"
            "body subject*Not what was recorded*!= recorded*Recorded*"
        ]
    )


def test_record_mode_all_rerecords(pytester: pytest.Pytester, org: Any) -> None:
    pytester.makepyfile(test_inner_recorded=LIFECYCLE_TEST)
    _run(pytester, "--record-mode=once").assert_outcomes(passed=1)
    path = _cassette(pytester, "test_inner_recorded", "test_lifecycle")
    first = Cassette.load(path).interactions[0].response.headers["odata-entityid"]
    _run(pytester, "--record-mode=all").assert_outcomes(passed=1)
    second = Cassette.load(path).interactions[0].response.headers["odata-entityid"]
    assert len(org.rows("lead")) == 2 and first != second
    _run(pytester, "--record-mode=rewrite").assert_outcomes(passed=1)
    third = Cassette.load(path).interactions[0].response.headers["odata-entityid"]
    assert len(org.rows("lead")) == 3 and third not in (first, second)


EPISODE_TEST = """
def test_episode(dataverse_cassette):
    client = dataverse_cassette.client()
    client.whoami()
    EXTRA
"""


def test_new_episodes_replays_known_requests_and_records_new_ones(
    pytester: pytest.Pytester, org: Any
) -> None:
    pytester.makepyfile(test_inner_episodes=EPISODE_TEST.replace("EXTRA", "pass"))
    _run(pytester, "--record-mode=once").assert_outcomes(passed=1)
    assert len(org.requests("GET", "WhoAmI")) == 1
    extra = 'client.leads.create({"subject": "New episode"})'
    pytester.makepyfile(test_inner_episodes=EPISODE_TEST.replace("EXTRA", extra))
    _run(pytester, "--record-mode=new_episodes").assert_outcomes(passed=1)
    assert len(org.requests("GET", "WhoAmI")) == 1  # answered from the cassette
    assert [r["subject"] for r in org.rows("lead")] == ["New episode"]
    saved = Cassette.load(_cassette(pytester, "test_inner_episodes", "test_episode"))
    assert [i.request.method for i in saved.interactions][:2] == ["GET", "POST"]
    org.close()
    _run(pytester).assert_outcomes(passed=1)  # and the whole episode replays offline
