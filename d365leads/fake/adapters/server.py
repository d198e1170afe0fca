"""The fake as a real HTTP server (stdlib ``ThreadingHTTPServer`` on 127.0.0.1, port 0).

:class:`FakeServer` serves any :data:`~d365leads.fake.wire.messages.Handler` (a
``FakeDataverse`` or a cassette player) on a daemon thread; ``.url`` is
``http://127.0.0.1:<port>`` (the org URL to give a client) and ``.close()`` stops it, releasing
threads that wait in a scripted fault.

Transport faults are acted out on the socket: ``reset`` closes the connection without writing
(with ``SO_LINGER`` 0, so the client sees a reset), ``timeout`` withholds the answer until the
client gives up or the server closes (an ``Event`` wait, interruptible at shutdown),
``truncate`` sends the headers and half the body then closes, ``delay`` waits (same ``Event``)
before answering.

The blocking entry point that builds a fake and serves it is
:func:`d365leads.fake.adapters.serve.run_server`.
"""

from __future__ import annotations

import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..core.fault import CODE_UNEXPECTED, FakeFault
from ..wire.errors import fault_response
from ..wire.messages import FakeRequest, FakeResponse, Handler

__all__ = ["FakeServer"]

_TIMEOUT_CAP_S = 3600.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake_handler: Handler
    stopping: threading.Event
    connections: set[socket.socket]
    connections_lock: threading.Lock

    def drop_connections(self) -> None:
        """Shut down every open (keep-alive) connection so no request is served after close."""
        with self.connections_lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle + delayed ACK every response with a
    # body would stall ~40 ms (measured by bench/bench_fake.py).
    disable_nagle_algorithm = True
    server_version = "d365leads-fake"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # Silent: the fake's journal is the log (and headers may carry bearer tokens).
        return

    def _handle(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = FakeRequest(
            self.command,
            f"http://{host}{self.path}",
            {k: v for k, v in self.headers.items()},
            body,
        )
        try:
            response = self.server.fake_handler(request)
        except Exception as exc:  # the handler should never raise; answer 500 rather than hang
            response = fault_response(
                FakeFault(500, CODE_UNEXPECTED, f"{type(exc).__name__}: {exc}")
            )
        self._send(response)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            size = int(size_line or b"0", 16)
            if size == 0:
                # Trailers end with an empty line.
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, response: FakeResponse) -> None:
        fault = response.fault
        stopping = self.server.stopping
        if fault is not None and fault.kind == "reset":
            self._reset()
            return
        if fault is not None and fault.kind == "timeout":
            stopping.wait(fault.seconds or _TIMEOUT_CAP_S)
            self._reset()
            return
        if fault is not None and fault.kind == "delay" and stopping.wait(fault.seconds):
            self._reset()
            return
        body = response.body if self.command != "HEAD" else b""
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if fault is not None and fault.kind == "truncate":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self._reset()
            return
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _handle


class FakeServer:
    """A running fake server; use as a context manager or call :meth:`close`."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self._server = _Server((host, port), _RequestHandler)
        self._server.fake_handler = handler
        self._server.stopping = threading.Event()
        self._server.connections = set()
        self._server.connections_lock = threading.Lock()
        bound_host, bound_port = self._server.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"d365leads-fake-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    @property
    def base_url(self) -> str:
        """``<url>/api/data/v9.2/``."""
        return self.url + "/api/data/v9.2/"

    def close(self) -> None:
        """Stop serving, release waiting fault threads and free the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._server.stopping.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"FakeServer({self.url}, {state})"
