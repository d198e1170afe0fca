"""``new_episodes``: known requests answered from the cassette, new ones sent and recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from d365leads.cassette import Cassette
from d365leads.http.recording import EpisodesTransport, RecordingTransport
from d365leads.http.transport import RequestsTransport


def test_known_requests_replay_and_new_ones_are_appended(
    fake_dataverse_server: Any, tmp_path: Path
) -> None:
    server = fake_dataverse_server
    (lead_id,) = server.seed("lead", [{"subject": "Known", "lastname": "Example"}])
    path = tmp_path / "c.json"
    first = RecordingTransport(RequestsTransport(), server.url, path=path)
    client = server.client(transport=first)
    assert client.leads.get(lead_id).subject == "Known"
    client.close()
    first.save()

    # The org changes; the known request must still get the recorded answer.
    server.store.update("lead", lead_id, {"subject": "Changed in the org"})
    sent_before = len(server.journal)
    episodes = EpisodesTransport(RequestsTransport(), server.url, Cassette.load(path), path=path)
    client = server.client(transport=episodes)
    assert client.leads.get(lead_id).subject == "Known"
    assert len(server.journal) == sent_before  # answered from the cassette
    assert client.whoami().user_id == server.caller_id  # new: went to the org
    assert len(server.journal) == sent_before + 1
    client.close()
    episodes.save()

    saved = Cassette.load(path)
    assert [i.request.path for i in saved.interactions] == [
        f"/api/data/v9.2/leads({lead_id})",
        "/api/data/v9.2/WhoAmI",
    ]
