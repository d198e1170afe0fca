"""Gigabyte, endless and trickling answers end with their own error, in bounded time and memory.

The server streams from one reused 64 KiB block, so nothing large is built on either side; the
limits are set small here so each case ends in well under a second when the client behaves.
Without the limits, the client would read until the server gives up (``ANSWER_SECONDS``).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
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
from d365leads.http import RequestsTransport

from .conftest import DEADLINE, TICK, ClientFactory
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


@dataclass
class Trickle:
    """Write ``head`` at once, then ``body`` one byte every ``every`` seconds, each byte also
    moving the client's deadline clock on by :data:`TICK`; ``sent`` lists the body bytes
    written per answer."""

    head: bytes
    body: bytes
    every: float = 0.01
    sent: list[int] = field(default_factory=list)
    _ended: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, request: Received, wire: Wire) -> None:
        written = 0
        try:
            if not wire.write(self.head):
                return
            for byte in self.body:
                if not wire.pause(self.every) or not wire.write(bytes([byte])):
                    return
                written += 1
                wire.tick(TICK)
        finally:
            with self._ended:
                self.sent.append(written)
                self._ended.notify_all()

    def ended(self, answers: int) -> list[int]:
        """``sent`` once ``answers`` answers ended: the client hung up (or 10 s passed)."""
        with self._ended:
            self._ended.wait_for(lambda: len(self.sent) >= answers, timeout=10)
            return list(self.sent)


ENDLESS = 4000  # bytes: 40 s at 0.01 s a byte, cut at ANSWER_SECONDS by the server
STATUS_AND_HEADERS = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {ENDLESS}\r\n\r\n".encode()
)
TRICKLES = {
    "body": (STATUS_AND_HEADERS, b" " * ENDLESS),
    "headers": (b"", STATUS_AND_HEADERS + b" " * ENDLESS),
    "chunk-framing": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"1\r\n \r\n" * (ENDLESS // 5),
    ),
}


@pytest.mark.parametrize("where", sorted(TRICKLES))
def test_a_trickling_answer_ends_at_the_request_deadline(
    server: HostileServer, make_client: ClientFactory, sleeps: list[float], where: str
) -> None:
    trickle = Trickle(*TRICKLES[where])
    server.route("GET", LEADS, trickle)
    client = make_client(request_deadline=DEADLINE)
    error, elapsed, _ = measured(lambda: list(client.leads.list(top=5)))
    assert isinstance(error, RequestDeadlineError), error
    assert isinstance(error, RequestTimeoutError)  # callers that handle timeouts handle it too
    assert error.deadline == DEADLINE and "D365_REQUEST_DEADLINE" in str(error)
    # Each byte arrives well within the 120 s read timeout, so only the deadline can stop it:
    # three attempts (the first and two retries of a GET), each cut off by the client long
    # before the trickle would end.
    assert len(server.hostile()) == 3 and len(sleeps) == 2
    sent = trickle.ended(3)
    assert len(sent) == 3 and max(sent) < len(trickle.body) // 10, sent  # about 20 bytes each
    assert elapsed < 10


def test_a_trickled_write_is_not_sent_twice(
    server: HostileServer, make_client: ClientFactory
) -> None:
    trickle = Trickle(*TRICKLES["body"])
    server.route("POST", r"^leads$", trickle)
    client = make_client(request_deadline=DEADLINE)
    with pytest.raises(RequestDeadlineError, match="may or may not have been applied"):
        client.records.create("leads", {"subject": "once", "lastname": "Ng"})
    assert len(server.hostile()) == 1
    assert trickle.ended(1)[0] < len(trickle.body) // 10


@pytest.mark.parametrize("case", ["endless-chunks", "trickled-headers"])
def test_limits_hold_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleeps: list[float], case: str
) -> None:
    # Dataverse is always HTTPS: the deadline must reach the reads of a TLS socket too.
    context, trusted = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(trusted))
    with HostileServer(tls=context) as server:
        answer = endless_chunks if case == "endless-chunks" else Trickle(*TRICKLES["headers"])
        server.route("GET", LEADS, answer)
        client = DataverseClient(
            server.url,
            token_provider=StaticTokenProvider("hostile-suite-token"),
            sleep=sleeps.append,
            retry=RetryPolicy.no_retries(),
            max_response_mb=1,
            # The endless body tests the size limit: the deadline leaves room for a loaded
            # machine to read 1 MiB over TLS; the trickle runs the deadline out by its ticks.
            request_deadline=DEADLINE,
            transport=RequestsTransport(clock=server.pace),
        )
        expected = ResponseTooLargeError if case == "endless-chunks" else RequestDeadlineError
        with client:
            error, elapsed, _ = measured(lambda: list(client.leads.list(top=5)))
        assert isinstance(error, expected), error
        assert len(server.received) == 1
        assert elapsed < 8  # the trickle alone would last ANSWER_SECONDS (20 s)
