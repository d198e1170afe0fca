"""Issue 9's main proof: record a lifecycle against the fake server, replay it with the fake off.

Recording goes through the real HTTP stack (``RequestsTransport`` to a local server, the same
code path as a real org but the host); replay is a fresh ``FakeDataverse`` whose store is never
touched because ``fake.replay`` answers every request, in-process and through a server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cassette_scenario import LEADS, PAGE_SIZE, SUBJECT_PREFIX, run_scenario

from d365leads import DataverseClient, StaticTokenProvider
from d365leads.cassette import Cassette, Redactor, scan_paths
from d365leads.errors import NotSupportedError
from d365leads.fake import FakeDataverse
from d365leads.fake.adapters.replay import MISMATCH_CODE, CassettePlayer
from d365leads.http.recording import RecordingTransport
from d365leads.http.transport import RequestsTransport
from d365leads.odata.query import col

# A token shaped like a real Entra ID access token: it must never reach the cassette.
RECORDING_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2NvbnRvc28uY3JtLmR5bmFtaWNz"
    "LmNvbSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
)
PLACEHOLDER_HOST = "fake-org.crm.dynamics.com"
FAKE_IDENTITY_PREFIX = "00000000-0000-4000-8000-"


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the client slept {seconds}s during a replay")


class _LiveOrg:
    """The fake behind a real server: what recording talks to."""

    def __init__(self) -> None:
        self.fake = FakeDataverse(sleep=_no_sleep)
        self.server = self.fake.serve()
        self.url = self.server.url


def _replay_client(url: str) -> DataverseClient:
    return DataverseClient(url, token_provider=StaticTokenProvider("replay"), sleep=_no_sleep)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, _LiveOrg]:
    """The scenario recorded once against the fake server; the server is stopped afterwards."""
    path = tmp_path_factory.mktemp("cassettes") / "lifecycle.json"
    live = _LiveOrg()
    recorder = RecordingTransport(RequestsTransport(), live.url)
    client = DataverseClient(
        live.url,
        token_provider=StaticTokenProvider(RECORDING_TOKEN),
        transport=recorder,
        sleep=_no_sleep,
    )
    try:
        observed = run_scenario(client)
    finally:
        client.close()
        live.server.close()
    assert live.fake.errors == []
    recorder.save(path)
    return observed, path, live


def test_replay_in_process_gives_identical_results(recorded: Any) -> None:
    observed, path, live = recorded
    fake = FakeDataverse()
    fake.replay = player = CassettePlayer(path)
    with fake.mock():
        client = _replay_client(fake.org_url)
        replayed = run_scenario(client)
        client.close()
    assert replayed["replayable"] == observed["replayable"]
    assert player.misses == [] and player.unused == 0
    # The fake itself was switched off: its store never saw a lead, yet the journal saw traffic.
    assert fake.rows("lead") == [] and len(fake.journal) == len(player.cassette.interactions)
    # The recording really was a lifecycle run against the live fake.
    assert len(live.fake.rows("lead")) == len(LEADS)
    rep = observed["replayable"]
    assert rep["qualified"]["state"] == 1 and rep["qualified"]["opportunity"] is not None
    assert rep["disqualified"] == (2, 4) and rep["reactivated"] == (0, 1)
    assert rep["batch"] == [204, 200] and rep["total"] == len(LEADS)
    assert rep["renamed"].endswith("(renamed)")


def test_replay_through_a_server_gives_identical_results(recorded: Any) -> None:
    observed, path, _ = recorded
    fake = FakeDataverse()
    fake.replay = player = CassettePlayer(path)
    with fake.serve() as server:
        client = _replay_client(server.url)
        replayed = run_scenario(client)
        client.close()
    assert replayed["replayable"] == observed["replayable"]
    assert player.misses == [] and player.unused == 0
    assert fake.rows("lead") == []


def test_names_and_identities_are_pseudonymised_consistently(recorded: Any) -> None:
    observed, path, live = recorded
    fake = FakeDataverse()
    fake.replay = CassettePlayer(path)
    with fake.mock():
        client = _replay_client(fake.org_url)
        replayed = run_scenario(client)
        client.close()
    redactor = Redactor("http://unused.example")
    assert observed["names"] == [(d["firstname"], d["lastname"]) for d in LEADS]
    pseudonym = redactor.pseudonym
    assert replayed["names"] == [
        (pseudonym("firstname", d["firstname"]), pseudonym("lastname", d["lastname"]))
        for d in LEADS
    ]
    # WhoAmI and owner lookups: the fake's caller becomes one stable placeholder GUID.
    assert observed["identity"]["user_id"] == live.fake.caller_id
    assert replayed["identity"]["user_id"].startswith(FAKE_IDENTITY_PREFIX)
    assert replayed["identity"]["owner"] == replayed["identity"]["user_id"]
    assert live.fake.caller_id not in path.read_text(encoding="utf-8")


def test_saved_cassette_holds_no_secret_no_host_and_passes_the_scan(recorded: Any) -> None:
    _, path, live = recorded
    text = path.read_text(encoding="utf-8")
    assert RECORDING_TOKEN not in text and "eyJ0eXAi" not in text
    assert "Bearer" not in text and "authorization" not in text.lower()
    assert "127.0.0.1" not in text and live.url.split("//")[1] not in text
    assert PLACEHOLDER_HOST in text
    for data in LEADS:  # names never stored (not even as lookup display names)...
        assert data["lastname"] not in text and data["firstname"] not in text
        assert data["emailaddress1"] in text  # ...synthetic contact data is kept
    assert "Fake User" not in text  # the recording user's name (owner/creator lookups)
    findings, count = scan_paths([path])
    assert (findings, count) == ([], 1)
    cassette = Cassette.load(path)
    pages = [
        i
        for i in cassette.interactions
        if i.request.method == "GET"
        and i.request.path.endswith("/leads")
        and ("$select", "leadid,subject,statecode") in i.request.query
    ]
    assert len(pages) == -(-len(LEADS) // PAGE_SIZE)  # one interaction per page
    assert sum(1 for i in cassette.interactions if i.request.path.endswith("$batch")) == 1
    assert json.loads(text)["interactions"][-1]["response"]["status"] == 200


def test_changed_request_names_the_closest_recorded_interaction(recorded: Any) -> None:
    _, path, _ = recorded
    fake = FakeDataverse()
    fake.replay = player = CassettePlayer(path)
    first_id = Cassette.load(path).interactions[1].response.body["leadid"]
    with fake.mock():
        client = _replay_client(fake.org_url)
        client.leads.create(LEADS[0])  # unchanged: replays fine
        with pytest.raises(NotSupportedError) as changed_body:
            client.leads.create({**LEADS[1], "subject": "A different subject"})
        paged = client.leads.list(  # the scenario's paged query, one column fewer
            col("subject").startswith(SUBJECT_PREFIX),
            select=["leadid", "subject"],
            order_by="subject",
            page_size=PAGE_SIZE,
        )
        with pytest.raises(NotSupportedError) as changed_select:
            next(iter(paged))
        client.close()
    message = str(changed_body.value)
    assert f"[{MISMATCH_CODE}]" in message
    assert "Closest recorded interaction #3" in message  # the second create, not yet replayed
    assert "body subject: '\"A different subject\"' != recorded '\"Cassette lead 1\"'" in message
    message = str(changed_select.value)
    assert "no recorded interaction matches GET /api/data/v9.2/leads" in message
    assert "Closest recorded interaction #11: GET /api/data/v9.2/leads" in message
    assert "differs in: query $select: 'leadid,subject' != recorded 'leadid,subject,statecode'" in (
        message
    )
    assert len(player.misses) == 2
    assert first_id  # the recorded create answered the unchanged request
