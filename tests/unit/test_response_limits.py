"""Unit checks of the answer limits: size, deadline, JSON shape and links (no network)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import responses

from d365leads import (
    ApiSession,
    MalformedResponseError,
    RequestDeadlineError,
    ResponseTooLargeError,
    RetryPolicy,
    StaticTokenProvider,
    UntrustedLinkError,
)
from d365leads.http import Request, RequestsTransport, Response, json_object, json_value

ORG = "https://contoso.crm.dynamics.com"
API = ORG + "/api/data/v9.2/"


class Script:
    """A transport answering from a list, recording what was sent."""

    def __init__(self, *answers: Response) -> None:
        self.answers = list(answers)
        self.sent: list[Request] = []

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        return self.answers.pop(0)

    def close(self) -> None:
        pass


def ok(body: Any, url: str = API + "leads", **headers: str) -> Response:
    headers.setdefault("Content-Type", "application/json; odata.metadata=minimal")
    return Response(200, headers, json.dumps(body).encode(), url)


def session(transport: Any, **kwargs: Any) -> ApiSession:
    return ApiSession(
        ORG,
        token_provider=StaticTokenProvider("tok"),
        transport=transport,
        retry=RetryPolicy.no_retries(),
        sleep=lambda s: None,
        **kwargs,
    )


# -- JSON shape ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; odata.metadata=minimal", ""]
)
def test_json_bodies_are_read(content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert json_object(Response(200, headers, b'{"a": 1}', API)) == {"a": 1}
    assert json_value(Response(204, {}, b"", API)) is None
    assert json_value(Response(200, {"Content-Type": "application/problem+json"}, b"[1]", API))


@pytest.mark.parametrize(
    ("status", "content_type", "body", "message"),
    [
        (200, "text/html", b"<html>login</html>", "expected JSON but got text/html"),
        (200, "text/plain", b'{"value": []}', "expected JSON but got text/plain"),
        (200, "", b'{"value": [{"a": 1}', "not valid JSON"),
        (200, "application/json", b"\xff\xfe", "not valid JSON"),
        (200, "application/json", b'{"error": {"code": "0x1", "message": "no"}}', "[0x1]: no"),
        (201, "application/json", b'{"error": {"message": "odd"}}', "body is an error: odd"),
        (200, "application/json", b"[1, 2]", "expected a JSON object, got list"),
    ],
)
def test_answers_that_are_not_web_api_json_are_refused(
    status: int, content_type: str, body: bytes, message: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    with pytest.raises(MalformedResponseError) as info:
        json_object(Response(status, headers, body, API + "leads"), method="GET")
    assert message in str(info.value) and "GET " + API + "leads" in str(info.value)


def test_a_secret_in_a_body_preview_is_redacted() -> None:
    body = b"<html>Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig</html>"
    with pytest.raises(MalformedResponseError) as info:
        json_value(Response(200, {"Content-Type": "text/html"}, body, API))
    assert "eyJhbGciOiJIUzI1NiJ9" not in str(info.value)


# -- size limit ------------------------------------------------------------------------------


@responses.activate
def test_transport_refuses_an_announced_body_over_the_limit() -> None:
    responses.get(
        API + "leads",
        body=b"x" * 5000,
        content_type="application/json",
        auto_calculate_content_length=True,
    )
    transport = RequestsTransport()
    request = Request("GET", API + "leads", max_response_bytes=4096)
    with pytest.raises(ResponseTooLargeError, match="announces 5000 bytes") as info:
        transport.send(request)
    assert (info.value.limit, info.value.received) == (4096, 5000)
    assert transport.send(Request("GET", API + "leads", max_response_bytes=5000)).content


@responses.activate
def test_transport_counts_streamed_bytes_without_content_length() -> None:
    responses.get(
        API + "leads",
        body=b"x" * 300_000,
        content_type="application/json",
        auto_calculate_content_length=False,
        headers={"Transfer-Encoding": "chunked"},
    )
    with pytest.raises(ResponseTooLargeError, match="passed 100000 bytes") as info:
        RequestsTransport().send(Request("GET", API + "leads", max_response_bytes=100_000))
    assert 100_000 < info.value.received <= 100_000 + 65536


def test_session_checks_the_size_of_any_transports_answer() -> None:
    script = Script(ok({"value": ["x" * 2000]}))
    with pytest.raises(ResponseTooLargeError, match="more than the"):
        session(script, max_response_bytes=1000).get_json("leads")
    assert script.sent[0].max_response_bytes == 1000


# -- deadline --------------------------------------------------------------------------------


@responses.activate
def test_transport_deadline_on_an_injected_clock() -> None:
    responses.get(API + "leads", body=b"x" * 200_000, content_type="application/json")
    ticks = itertools.count(0.0, 4.0)  # every look at the clock is 4 s later
    transport = RequestsTransport(clock=lambda: next(ticks))
    with pytest.raises(RequestDeadlineError, match="10s request deadline") as info:
        transport.send(Request("GET", API + "leads", deadline=10.0))
    assert info.value.deadline == 10.0
    assert len(transport.send(Request("GET", API + "leads", deadline=1e6)).content) == 200_000


def test_session_sends_its_deadline_and_a_longer_per_call_timeout_extends_it() -> None:
    script = Script(ok({}), ok({}), ok({}))
    api = session(script, deadline=30.0)
    api.request("GET", "leads")
    api.request("GET", "leads", timeout=90.0)
    api.request("GET", "leads", timeout=5.0)
    assert [r.deadline for r in script.sent] == [30.0, 90.0, 30.0]
    assert session(Script(), deadline=None).deadline is None


# -- links -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "http://contoso.crm.dynamics.com/api/data/v9.2/leads?$skiptoken=2",  # downgrade
        "https://evil.example.com/api/data/v9.2/leads?$skiptoken=2",
        "https://contoso.crm.dynamics.com:8443/api/data/v9.2/leads",
        "https://contoso.crm.dynamics.com.evil.example.com/api/data/v9.2/leads",
        "https://contoso.crm.dynamics.com@evil.example.com/api/data/v9.2/leads",
        "https://user:pw@contoso.crm.dynamics.com/api/data/v9.2/leads",
        "https://contoso.crm.dynamics.com/_fake/reset",
        "https://contoso.crm.dynamics.com/api/data/v9.1/leads",
    ],
)
def test_next_and_delta_links_off_the_web_api_are_refused_unsent(link: str) -> None:
    for key in ("@odata.nextLink", "@odata.deltaLink"):
        script = Script(ok({"value": [{"leadid": "x"}], key: link}))
        pages = session(script).iter_pages("leads")
        with pytest.raises(UntrustedLinkError, match="refusing to follow it"):
            next(pages)
        assert len(script.sent) == 1


@pytest.mark.parametrize("link", ["leads?$skiptoken=2", "//evil.example.com/x", 42])
def test_links_that_are_not_absolute_urls_are_malformed(link: object) -> None:
    script = Script(ok({"value": [], "@odata.nextLink": link}))
    with pytest.raises(MalformedResponseError, match="not an absolute URL"):
        list(session(script).iter_pages("leads"))
    assert len(script.sent) == 1


def test_links_on_the_org_are_followed_even_with_the_default_port_or_upper_case() -> None:
    script = Script(
        ok(
            {
                "value": [1],
                "@odata.nextLink": "https://CONTOSO.crm.dynamics.com:443/api/data/v9.2/leads?$skiptoken=2",
            }
        ),
        ok({"value": [2], "@odata.deltaLink": API + "leads?$deltatoken=9"}),
    )
    pages = list(session(script).iter_pages("leads"))
    assert [p.rows for p in pages] == [[1], [2]]
    assert pages[1].delta_link == API + "leads?$deltatoken=9"
    assert script.sent[1].url.startswith("https://CONTOSO.crm.dynamics.com:443/api/data/v9.2/")


def test_a_repeated_next_link_is_malformed() -> None:
    link = API + "leads?$skiptoken=2"
    script = Script(
        ok({"value": [], "@odata.nextLink": link}), ok({"value": [], "@odata.nextLink": link})
    )
    with pytest.raises(MalformedResponseError, match="loop forever"):
        list(session(script).iter_pages("leads"))
