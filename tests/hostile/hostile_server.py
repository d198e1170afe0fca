"""A tiny threaded HTTP server on 127.0.0.1 that answers chosen requests with hostile bytes.

Requests that no hostile route claims go to a :class:`~d365leads.fake.FakeDataverse`, so the
client's own checks (reading a lead before qualifying it, status metadata) see a real org.
Every answer is written raw to the socket, so framing can be broken on purpose: a body shorter
than its ``Content-Length``, a body of a gigabyte streamed from one reused chunk, an endless
chunked body, or one byte every few milliseconds. Each answer loop is bounded in count and in
time, writes time out when the client stops reading, and :meth:`HostileServer.close` (or the
end of a ``with`` block) stops everything.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from d365leads.fake import FakeDataverse, FakeRequest

#: Longest any single answer may keep writing, whatever the client does.
ANSWER_SECONDS = 20.0
_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 429: "Too Many"}


@dataclass
class Received:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    answered_by: str = "fake"

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class PacedClock:
    """The client's deadline clock, paced by the server: real monotonic time plus the seconds
    the hostile answers add as they trickle (:meth:`Wire.tick`).

    A trickle then runs out a deadline after a fixed number of bytes however loaded the
    machine is, while the deadline itself stays far above what an honest exchange with the
    fake needs (the honest answers add nothing).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._extra = 0.0

    def __call__(self) -> float:
        with self._lock:
            return time.monotonic() + self._extra

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._extra += seconds


class Wire:
    """Writes one answer to the client; every write stops once the client or the server is gone."""

    def __init__(
        self, sock: socket.socket, stop: threading.Event, pace: PacedClock | None = None
    ) -> None:
        self._sock = sock
        self._stop = stop
        self._pace = pace
        self._until = time.monotonic() + ANSWER_SECONDS
        self.sent = 0
        self.broken = False

    def alive(self) -> bool:
        return not (self.broken or self._stop.is_set() or time.monotonic() > self._until)

    def write(self, data: bytes) -> bool:
        """Send ``data``; False once the client went away (or time is up)."""
        if not self.alive():
            return False
        try:
            self._sock.sendall(data)
        except OSError:
            self.broken = True
            return False
        self.sent += len(data)
        return True

    def head(self, status: int, headers: dict[str, str]) -> bool:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in {**headers, "Connection": "close"}.items()]
        return self.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def full(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """A well-framed answer."""
        if self.head(status, {**(headers or {}), "Content-Length": str(len(body))}):
            self.write(body)

    def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.full(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json; odata.metadata=minimal", **(headers or {})},
        )

    def pause(self, seconds: float) -> bool:
        """Wait (at most ``seconds``) unless the server stops; False when it did."""
        return not self._stop.wait(seconds) and self.alive()

    def tick(self, seconds: float) -> None:
        """Move the client's :class:`PacedClock` on by ``seconds`` (no real wait)."""
        if self._pace is not None:
            self._pace.advance(seconds)


Answer = Callable[[Received, Wire], None]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    answer: Answer
    name: str
    times: int | None
    used: int = 0


@dataclass
class HostileServer:
    """Answers on ``http://127.0.0.1:<port>``; unclaimed requests go to ``fake``.

    ``route(method, regex, answer)`` claims requests whose path (after ``/api/data/v9.2/``)
    matches; ``received`` lists every request read, in order.
    """

    fake: FakeDataverse | None = None
    received: list[Received] = field(default_factory=list)
    tls: ssl.SSLContext | None = None
    """Serve HTTPS with this server-side context (see :func:`self_signed`)."""
    pace: PacedClock = field(default_factory=PacedClock)
    """The deadline clock of the clients of this server (``RequestsTransport(clock=pace)``)."""

    def __post_init__(self) -> None:
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- set-up --------------------------------------------------------------------------

    def route(
        self, method: str, regex: str, answer: Answer, *, name: str = "", times: int | None = None
    ) -> None:
        """Answer matching requests with ``answer`` (the first ``times`` of them, or all)."""
        with self._lock:
            self._routes.append(
                _Route(method.upper(), re.compile(regex), answer, name or regex, times)
            )

    def hostile(self) -> list[Received]:
        """The requests a hostile route answered."""
        return [r for r in self.received if r.answered_by != "fake"]

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving -------------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(2.0)  # a client that stops reading cannot block a writer for long
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            request = _read_request(sock)
        except (OSError, ValueError):
            return
        if request is None:
            return
        wire = Wire(sock, self._stop, self.pace)
        path = request.target.split("/api/data/v9.2/", 1)[-1]
        route = self._claim(request.method, path)
        request.answered_by = route.name if route is not None else "fake"
        with self._lock:
            self.received.append(request)
        try:
            if route is not None:
                route.answer(request, wire)
            else:
                self._forward(request, wire)
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _claim(self, method: str, path: str) -> _Route | None:
        with self._lock:
            for route in self._routes:
                if route.method not in (method, "*") or not route.pattern.search(path):
                    continue
                if route.times is not None and route.used >= route.times:
                    continue
                route.used += 1
                return route
        return None

    def _forward(self, request: Received, wire: Wire) -> None:
        status, headers, body = self.ask_fake(request)
        wire.full(status, body, headers)

    def ask_fake(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        """What the fake org answers to ``request`` (the write, if any, is applied)."""
        if self.fake is None:
            return 404, {"Content-Type": "application/json"}, b'{"error":{"message":"none"}}'
        answer = self.fake(
            FakeRequest(
                request.method, self.url + request.target, dict(request.headers), request.body
            )
        )
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return answer.status, headers, answer.body


def _read_request(sock: socket.socket) -> Received | None:
    """Read one HTTP/1.1 request (head at most 64 KiB, body by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 65536:
            raise ValueError("request head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    first, *lines = head.decode("latin-1").split("\r\n")
    method, target, _version = first.split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
    body = rest
    while len(body) < length:
        chunk = sock.recv(min(65536, length - len(body)))
        if not chunk:
            break
        body += chunk
    return Received(method, target, headers, body[:length])


def self_signed(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 and the PEM file a client must trust for it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d365leads hostile test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def repeat(block: bytes, total: int) -> Iterator[bytes]:
    """``total`` bytes as slices of one reused ``block`` (nothing big is ever built)."""
    left = total
    while left > 0:
        piece = block if left >= len(block) else block[:left]
        left -= len(piece)
        yield piece
