"""A total deadline for one HTTP exchange, enforced on every read from the socket.

The per-read ``timeout`` of ``requests`` restarts whenever a byte arrives, so a server (or a
broken proxy) that trickles its status line, headers, chunk sizes or body one byte at a time can
hold a call for as long as it likes. :class:`DeadlineAdapter` gives its connections a response
class whose socket reads go through :class:`_DeadlineReader`: before each read the socket
timeout is set to what is left of the deadline (never more than the read timeout), and once the
deadline has passed the read fails. The transport opens an :func:`exchange` around each request;
outside one, reads behave as usual.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3 import poolmanager as _poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection

__all__ = ["DeadlineAdapter", "Exchange", "exchange"]


class Exchange:
    """The deadline of the request being sent and read on this thread.

    ``deadline`` is a ``clock()`` time; ``expired`` turns True when a read stopped because of it,
    so the transport can tell the deadline from an ordinary read timeout.
    """

    __slots__ = ("clock", "deadline", "expired")

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock
        self.expired = False

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.deadline - self.clock()


_local = threading.local()


@contextmanager
def exchange(
    seconds: float | None, clock: Callable[[], float] = time.monotonic
) -> Iterator[Exchange | None]:
    """Apply a deadline of ``seconds`` to the socket reads of this thread inside the block."""
    if seconds is None:
        yield None
        return
    current = Exchange(clock() + seconds, clock)
    previous = getattr(_local, "exchange", None)
    _local.exchange = current
    try:
        yield current
    finally:
        _local.exchange = previous


class _DeadlineReader(io.RawIOBase):
    """Raw socket reads that never outlive the current :class:`Exchange`."""

    def __init__(self, inner: Any, sock: socket.socket) -> None:
        super().__init__()
        self._inner = inner
        self._sock = sock
        # urllib3 sets the read timeout on the socket just before the response is created.
        self._read_timeout = sock.gettimeout()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        current: Exchange | None = getattr(_local, "exchange", None)
        if current is None:
            result: int | None = self._inner.readinto(buffer)
            return result
        remaining = current.remaining()
        if remaining <= 0:
            current.expired = True
            raise TimeoutError("the request deadline passed")
        bound_by_deadline = self._read_timeout is None or remaining < self._read_timeout
        self._sock.settimeout(remaining if bound_by_deadline else self._read_timeout)
        try:
            result = self._inner.readinto(buffer)
        except TimeoutError:
            if bound_by_deadline:
                current.expired = True
            raise
        return result

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """``http.client`` response whose reads (status line to last chunk) honour the deadline."""

    def __init__(
        self,
        sock: socket.socket,
        debuglevel: int = 0,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        # Nothing has been read yet, so detaching the buffer loses no bytes.
        raw = self.fp.detach()
        self.fp = io.BufferedReader(_DeadlineReader(raw, sock))


class _HTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _HTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An :class:`HTTPAdapter` whose connections (direct or through an HTTP proxy) read with
    the deadline of the current :func:`exchange`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # SOCKS proxies bring their own pool classes; those are left alone.
        if manager.pool_classes_by_scheme is _poolmanager.pool_classes_by_scheme:
            manager.pool_classes_by_scheme = _POOLS
        return manager
