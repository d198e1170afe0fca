"""A hostile page in the middle of a sync pull leaves a mirror that the next run completes.

Pages are committed one by one (that is how a pull resumes), so what must never happen is a
half-written page, a stored position past the page that failed, or a link followed off the org.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from d365leads import ResponseTooLargeError, UntrustedLinkError
from d365leads.sync import SyncTarget, pull
from d365leads.sync.status import sync_status

from .conftest import ClientFactory
from .hostile_server import Answer, HostileServer, Received, Wire

SECOND_PAGE = r"^leads\?.*skiptoken"


def endless(request: Received, wire: Wire) -> None:
    if not wire.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}):
        return
    block = b'{"value": [' + b'{"leadid": "x"},' * 4000
    frame = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    for _ in range(100_000):
        if not wire.write(frame):
            return


def off_org_link(server: HostileServer) -> Answer:
    def answer(request: Received, wire: Wire) -> None:
        status, headers, body = server.ask_fake(request)
        page = body.replace(server.url.encode() + b"/api/data", b"http://localhost:1/api/data")
        wire.full(status, page, headers)

    return answer


@pytest.mark.parametrize("prefetch", [False, True], ids=["in-line", "read-ahead"])
@pytest.mark.parametrize("hostile", ["endless-page", "link-off-the-org"])
def test_pull_stops_cleanly_and_the_next_run_completes(
    server: HostileServer,
    make_client: ClientFactory,
    tmp_path: Path,
    hostile: str,
    prefetch: bool,
) -> None:
    fake = server.fake
    assert fake is not None
    fake.seed("lead", [{"subject": f"Lead {n}", "lastname": f"L{n}"} for n in range(12)])
    answer = endless if hostile == "endless-page" else off_org_link(server)
    server.route("GET", SECOND_PAGE if hostile == "endless-page" else r"^leads\b", answer, times=1)
    client = make_client(max_response_mb=1)
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    expected = ResponseTooLargeError if hostile == "endless-page" else UntrustedLinkError
    with SyncTarget(url) as target:
        with pytest.raises(expected):
            pull(client, target, ["lead"], page_size=5, prefetch=prefetch)
        # Whole pages only: the first page is kept when the second is hostile; a page whose
        # link leaves the org is refused before it is handed out, so nothing of it is stored.
        assert target.count("lead") == ((5, 0) if hostile == "endless-page" else (0, 0))
        (status,) = sync_status(target)
        assert status.phase != "idle" or status.last_sync_at is None  # not marked complete
    assert [r for r in server.received if "localhost:1" in r.target] == []

    with SyncTarget(url) as target:
        pull(client, target, ["lead"], page_size=5, prefetch=False)
        assert target.count("lead") == (12, 0)
        (status,) = sync_status(target)
        assert status.phase == "idle"
