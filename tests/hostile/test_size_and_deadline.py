"""Gigabyte, endless and trickling answers end with their own error, in bounded time and memory.

The server streams from one reused 64 KiB block, so nothing large is built on either side; the
limits are set small here so each case ends in well under a second when the client behaves.
Without the limits, the client would read until the server gives up (``ANSWER_SECONDS``).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from d365leads import (
    DataverseClient,
    RequestDeadlineError,
    RequestTimeoutError,
    ResponseTooLargeError,
    RetryPolicy,
    StaticTokenProvider,
)

from .conftest import ClientFactory
from .hostile_server import HostileServer, Received, Wire, repeat, self_signed

LEADS = r"^leads\b"
GIB = 1024 * 1024 * 1024
BLOCK = b"[" + b'{"subject":"x"},' * 4095 + b"{}"  # 64 KiB of plausible JSON
JSON = {"Content-Type": "application/json"}


def measured(call: Callable[[], Any]) -> tuple[BaseException, float, int]:
    """Run ``call`` expecting an error; return it, the seconds taken and the peak bytes traced."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        error: BaseException = exc
    else:
        raise AssertionError("the call did not fail")
    finally:
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, elapsed, peak


def gigabyte_with_length(request: Received, wire: Wire) -> None:
    if wire.head(200, {**JSON, "Content-Length": str(GIB)}):
        for piece in repeat(BLOCK, GIB):
            if not wire.write(piece):
                return


def gigabyte_until_close(request: Received, wire: Wire) -> None:
    if wire.head(200, JSON):  # no Content-Length: the body ends when the connection closes
        for piece in repeat(BLOCK, GIB):
            if not wire.write(piece):
                return


def endless_chunks(request: Received, wire: Wire) -> None:
    if not wire.head(200, {**JSON, "Transfer-Encoding": "chunked"}):
        return
    frame = f"{len(BLOCK):x}\r\n".encode() + BLOCK + b"\r\n"
    for _ in range(1_000_000):  # bounded; ANSWER_SECONDS stops it long before
        if not wire.write(frame):
            return


def test_a_gigabyte_announced_by_content_length_is_refused_before_reading(
    server: HostileServer, make_client: ClientFactory
) -> None:
    server.route("GET", LEADS, gigabyte_with_length)
    client = make_client(max_response_mb=8)
    error, _, peak = measured(lambda: list(client.leads.list(top=5)))
    assert isinstance(error, ResponseTooLargeError)
    assert error.received == GIB and error.limit == 8 * 1024 * 1024
    assert "announces 1073741824 bytes" in str(error) and "D365_MAX_RESPONSE_MB" in str(error)
    assert peak < 4 * 1024 * 1024
    assert len(server.hostile()) == 1  # never retried


@pytest.mark.parametrize("answer", [gigabyte_until_close, endless_chunks])
def test_a_body_without_content_length_stops_at_the_limit(
    server: HostileServer, make_client: ClientFactory, answer: Callable[[Received, Wire], None]
) -> None:
    server.route("GET", LEADS, answer)
    client = make_client(max_response_mb=2)
    error, elapsed, peak = measured(lambda: list(client.leads.list(top=5)))
    assert isinstance(error, ResponseTooLargeError), error
    assert 2 * 1024 * 1024 < error.received <= 2 * 1024 * 1024 + 2 * len(BLOCK)
    assert "passed 2097152 bytes" in str(error)
    assert peak < 12 * 1024 * 1024  # the limit plus one copy and buffers, not a gigabyte
    assert elapsed < 15
    assert len(server.hostile()) == 1


def test_the_default_limit_applies_to_chunked_bodies(
    server: HostileServer, make_client: ClientFactory
) -> None:
    server.route("GET", LEADS, endless_chunks)
    client = make_client()
    assert client.session.max_response_bytes == 256 * 1024 * 1024
    client.session.max_response_bytes = 1024 * 1024  # as the setting would, kept small here
    with pytest.raises(ResponseTooLargeError):
        list(client.leads.list(top=5))


def trickle(head: bytes, body: bytes, every: float = 0.02) -> Callable[[Received, Wire], None]:
    """Write ``head`` at once, then ``body`` one byte every ``every`` seconds."""

    def answer(request: Received, wire: Wire) -> None:
        if not wire.write(head):
            return
        for byte in body:
            if not wire.pause(every) or not wire.write(bytes([byte])):
                return

    return answer


STATUS_AND_HEADERS = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
)
TRICKLES = {
    "body": trickle(STATUS_AND_HEADERS, b" " * 400),
    "headers": trickle(b"", STATUS_AND_HEADERS + b" " * 400),
    "chunk-framing": trickle(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"1\r\n \r\n" * 200,
    ),
}


@pytest.mark.parametrize("where", sorted(TRICKLES))
def test_a_trickling_answer_ends_at_the_request_deadline(
    server: HostileServer, make_client: ClientFactory, sleeps: list[float], where: str
) -> None:
    server.route("GET", LEADS, TRICKLES[where])
    client = make_client(request_deadline=0.3)
    error, elapsed, _ = measured(lambda: list(client.leads.list(top=5)))
    assert isinstance(error, RequestDeadlineError), error
    assert isinstance(error, RequestTimeoutError)  # callers that handle timeouts handle it too
    assert error.deadline == 0.3 and "D365_REQUEST_DEADLINE" in str(error)
    # Each byte arrives well within the 120 s read timeout, so only the deadline can stop it:
    # three attempts (the first and two retries of a GET) of 0.3 s each.
    assert len(server.hostile()) == 3 and len(sleeps) == 2
    assert elapsed < 10


def test_a_trickled_write_is_not_sent_twice(
    server: HostileServer, make_client: ClientFactory
) -> None:
    server.route("POST", r"^leads$", TRICKLES["body"])
    client = make_client(request_deadline=0.3)
    with pytest.raises(RequestDeadlineError, match="may or may not have been applied"):
        client.records.create("leads", {"subject": "once", "lastname": "Ng"})
    assert len(server.hostile()) == 1


@pytest.mark.parametrize("case", ["endless-chunks", "trickled-headers"])
def test_limits_hold_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleeps: list[float], case: str
) -> None:
    # Dataverse is always HTTPS: the deadline must reach the reads of a TLS socket too.
    context, trusted = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(trusted))
    with HostileServer(tls=context) as server:
        answer = endless_chunks if case == "endless-chunks" else TRICKLES["headers"]
        server.route("GET", LEADS, answer)
        client = DataverseClient(
            server.url,
            token_provider=StaticTokenProvider("hostile-suite-token"),
            sleep=sleeps.append,
            retry=RetryPolicy.no_retries(),
            max_response_mb=1,
            # The endless body tests the size limit: its deadline leaves room for a loaded
            # machine to read 1 MiB over TLS; the trickle tests the deadline itself.
            request_deadline=5.0 if case == "endless-chunks" else 0.3,
        )
        expected = ResponseTooLargeError if case == "endless-chunks" else RequestDeadlineError
        with client:
            error, elapsed, _ = measured(lambda: list(client.leads.list(top=5)))
        assert isinstance(error, expected), error
        assert len(server.received) == 1
        assert elapsed < 8  # the trickle alone lasts about 10 s
