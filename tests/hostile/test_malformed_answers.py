"""Answers that are not the JSON the Web API sends: each is a specific error, never data."""

from __future__ import annotations

import pytest

from d365leads import MalformedResponseError, TransportError

from .conftest import ClientFactory
from .hostile_server import HostileServer, Received, Wire

LEADS = r"^leads\b"
ROW = (
    b'{"@odata.context":"x","value":[{"leadid":"6f1c2c1e-0000-0000-0000-000000000001",'
    b'"subject":"Fleet renewal","statecode":0,"statuscode":1}]}'
)


def test_json_cut_off_inside_a_well_framed_body(
    server: HostileServer, make_client: ClientFactory
) -> None:
    def truncated(request: Received, wire: Wire) -> None:
        wire.full(200, ROW[:70], {"Content-Type": "application/json"})

    server.route("GET", LEADS, truncated)
    client = make_client()
    with pytest.raises(MalformedResponseError, match="not valid JSON") as info:
        list(client.leads.list(top=5))
    assert "70 bytes" in str(info.value)
    assert len(server.hostile()) == 1  # not retried: the same answer would come back


def test_body_shorter_than_its_content_length(
    server: HostileServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    def cut(request: Received, wire: Wire) -> None:
        if wire.head(200, {"Content-Type": "application/json", "Content-Length": "500"}):
            wire.write(ROW[:70])  # then the connection closes

    server.route("GET", LEADS, cut)
    client = make_client()
    with pytest.raises(TransportError, match="cut off") as info:
        list(client.leads.list(top=5))
    assert type(info.value) is TransportError
    # A GET may be resent, but only as often as the retry policy allows.
    assert len(server.hostile()) == 3 and len(sleeps) == 2


def test_html_page_instead_of_json(server: HostileServer, make_client: ClientFactory) -> None:
    page = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>proxy</body></html>"

    def html(request: Received, wire: Wire) -> None:
        wire.full(200, page, {"Content-Type": "text/html; charset=utf-8"})

    server.route("GET", LEADS, html)
    with pytest.raises(MalformedResponseError, match="expected JSON but got text/html") as info:
        list(make_client().leads.list(top=5))
    assert "<!DOCTYPE html>" in str(info.value) and "proxy settings" in str(info.value)


def test_html_without_a_content_type(server: HostileServer, make_client: ClientFactory) -> None:
    def html(request: Received, wire: Wire) -> None:
        wire.full(200, b"<html>Gateway</html>")

    server.route("GET", LEADS, html)
    with pytest.raises(MalformedResponseError, match="not valid JSON"):
        list(make_client().leads.list(top=5))


def test_json_under_a_content_type_that_is_not_json(
    server: HostileServer, make_client: ClientFactory
) -> None:
    def plain(request: Received, wire: Wire) -> None:
        wire.full(200, ROW, {"Content-Type": "text/plain"})

    server.route("GET", LEADS, plain)
    with pytest.raises(MalformedResponseError, match="got text/plain"):
        list(make_client().leads.list(top=5))


def test_success_status_with_an_odata_error_body(
    server: HostileServer, make_client: ClientFactory
) -> None:
    lead_id = server.fake.seed("lead", [{"subject": "Real", "lastname": "Ng"}])[0]  # type: ignore[union-attr]

    def error_200(request: Received, wire: Wire) -> None:
        wire.json(200, {"error": {"code": "0x80040220", "message": "Principal user is missing"}})

    server.route("GET", rf"^leads\({lead_id}\)", error_200)
    with pytest.raises(MalformedResponseError, match="0x80040220") as info:
        make_client().records.get("leads", lead_id)
    assert info.value.code == "0x80040220"
    assert "Principal user is missing" in str(info.value)
