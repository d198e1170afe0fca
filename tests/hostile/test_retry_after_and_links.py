"""Retry-After values a hostile server may send, and nextLinks that leave the org."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import pytest

from d365leads import ThrottledError, UntrustedLinkError

from .conftest import ClientFactory
from .hostile_server import Answer, HostileServer, Received, Wire

LEADS = r"^leads\b"
BUSY = {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}}


def throttle(retry_after: str) -> Answer:
    def answer(request: Received, wire: Wire) -> None:
        wire.json(429, BUSY, {"Retry-After": retry_after})

    return answer


def test_retry_after_of_a_billion_seconds_raises_at_once_with_the_servers_value(
    server: HostileServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    server.route("GET", LEADS, throttle("1000000000"), times=1)
    client = make_client()
    with pytest.raises(ThrottledError) as info:
        list(client.leads.list(top=5))
    assert info.value.retry_after == 1e9
    assert "asked to wait 1000000000s" in str(info.value)
    assert "D365_MAX_RETRY_TIME" in str(info.value)
    assert sleeps == []
    # Later requests honour the pause only up to the retry budget (60 s here), then go.
    assert client.throttle.pause_remaining() <= 60
    assert [lead.subject for lead in client.leads.list(top=5)] == []
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 60


@pytest.mark.parametrize("value", ["-30", "soon", "1e9", "NaN", "Thu, 99 Foo 2026 25:61:00 GMT"])
def test_negative_or_garbage_retry_after_is_treated_as_absent(
    server: HostileServer, make_client: ClientFactory, sleeps: list[float], value: str
) -> None:
    server.route("GET", LEADS, throttle(value), times=1)
    client = make_client()
    assert list(client.leads.list(top=5)) == []
    # The documented backoff: full jitter below backoff_base * 2**0 = 1 s for the first retry.
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 1.0
    assert len(server.hostile()) == 1


def test_retry_after_as_an_http_date_is_honoured(
    server: HostileServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.route("GET", LEADS, throttle(when), times=1)
    client = make_client()
    assert list(client.leads.list(top=5)) == []
    # HTTP dates have whole seconds, and the request took a moment: 28 to 30 s.
    assert len(sleeps) == 1 and 28 <= sleeps[0] <= 30


def page_with_link(link: str) -> Answer:
    def answer(request: Received, wire: Wire) -> None:
        wire.json(200, {"value": [], "@odata.nextLink": link})

    return answer


@pytest.mark.parametrize(
    "make_link",
    [
        lambda port: f"http://localhost:{port}/api/data/v9.2/leads?$skiptoken=2",  # other host
        lambda port: f"http://127.0.0.1:{port}/api/data/v9.2/leads?$skiptoken=2",  # other port
        lambda port: f"http://user@127.0.0.1:{port}/api/data/v9.2/leads",  # user info
    ],
    ids=["other-host", "other-port", "user-info"],
)
def test_next_link_off_the_org_is_refused_before_anything_is_sent_to_it(
    server: HostileServer, make_client: ClientFactory, make_link: Callable[[int], str]
) -> None:
    with HostileServer() as elsewhere:
        link = make_link(elsewhere.port)
        if "user@" in link:
            link = link.replace(str(elsewhere.port), str(server.port))
        server.route("GET", LEADS, page_with_link(link))
        with pytest.raises(UntrustedLinkError, match="refusing to follow it"):
            list(make_client().leads.list(top=5))
        assert elsewhere.received == []
    assert len(server.received) == 1


def test_next_link_outside_the_web_api_is_refused(
    server: HostileServer, make_client: ClientFactory
) -> None:
    server.route("GET", LEADS, page_with_link(server.url + "/_fake/reset"))
    with pytest.raises(UntrustedLinkError, match="outside"):
        list(make_client().leads.list(top=5))
    assert len(server.received) == 1
