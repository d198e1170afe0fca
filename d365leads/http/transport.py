"""The wire: :class:`Request`/:class:`Response` values and the :class:`Transport` that sends them.

:class:`RequestsTransport` is the only code in d365leads that calls ``requests`` to send. It keeps
one pooled :class:`requests.Session` sized for concurrent workers, always verifies TLS, and can
refuse the ``ARRAffinity`` cookie so parallel requests spread over all web servers
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits#remove-the-affinity-cookie).
"""

from __future__ import annotations

import io
import json as _json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookiejar import Cookie, DefaultCookiePolicy
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit
from urllib.request import Request as _UrlRequest

import requests
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import NameResolutionError, NewConnectionError, ReadTimeoutError

from d365leads import _wire
from d365leads.errors import (
    ConnectError,
    RequestDeadlineError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from d365leads.http.deadline import DeadlineAdapter, Exchange
from d365leads.http.deadline import exchange as deadline_exchange
from d365leads.redaction import redact_headers, redact_url

__all__ = [
    "AFFINITY_COOKIES",
    "Request",
    "RequestsTransport",
    "Response",
    "Transport",
]

AFFINITY_COOKIES = frozenset({_wire.AFFINITY_COOKIE, _wire.AFFINITY_COOKIE + "SameSite"})


@dataclass(frozen=True)
class Request:
    """One HTTP request as it will go on the wire (absolute URL, final headers)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    timeout: float | None = None
    #: Most seconds for the whole exchange, however slowly the bytes arrive (None: no limit).
    deadline: float | None = None
    #: Largest body to read, in bytes, counted as it streams in (None: no limit).
    max_response_bytes: int | None = None

    def __repr__(self) -> str:
        size = len(self.content) if self.content is not None else 0
        return (
            f"Request({self.method} {self.url}, headers={redact_headers(self.headers)!r}, "
            f"content={size} bytes)"
        )


@dataclass
class Response:
    """One HTTP response; ``headers`` look-ups are case-insensitive."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str

    def __post_init__(self) -> None:
        if not isinstance(self.headers, CaseInsensitiveDict):
            self.headers = CaseInsensitiveDict(self.headers)

    def json(self) -> Any:
        """Parse the body as JSON (``None`` for an empty body)."""
        if not self.content:
            return None
        return _json.loads(self.content.decode("utf-8-sig"))

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.content.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.url}, {len(self.content)} bytes)"


@runtime_checkable
class Transport(Protocol):
    """Sends one request and returns its response; nothing more (no retry, no auth)."""

    def send(self, request: Request) -> Response:
        """Send ``request``; raise ``TransportError`` / ``RequestTimeoutError`` below HTTP."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class _NoAffinityPolicy(DefaultCookiePolicy):
    """A cookie policy that neither stores nor returns the ARR affinity cookies."""

    def set_ok(self, cookie: Cookie, request: _UrlRequest) -> bool:
        if cookie.name in AFFINITY_COOKIES:
            return False
        return bool(super().set_ok(cookie, request))

    def return_ok(self, cookie: Cookie, request: _UrlRequest) -> bool:
        if cookie.name in AFFINITY_COOKIES:
            return False
        return bool(super().return_ok(cookie, request))


class RequestsTransport:
    """A :class:`Transport` over one pooled :class:`requests.Session`.

    ``pool_size`` sets the connection pool (``HTTPAdapter(pool_maxsize=...)``) so that that many
    worker threads can share the session. TLS verification cannot be turned off.

    Bodies are streamed: a :attr:`Request.max_response_bytes` limit is checked against
    ``Content-Length`` first and then against the bytes actually read, and
    :attr:`Request.deadline` bounds every socket read from the status line to the last chunk
    (:mod:`d365leads.http.deadline`), measured on ``clock`` (monotonic seconds).
    """

    def __init__(
        self,
        *,
        pool_size: int = 16,
        keep_affinity: bool = True,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session or requests.Session()
        self._clock = clock
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.verify = True
        # The environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) is honoured, but read once
        # per origin instead of by requests on every call, which costs a third of a request's
        # CPU time in a busy bulk job or test suite.
        self._session.trust_env = False
        self._verify: bool | str = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self._proxies: dict[str, dict[str, str]] = {}
        self._proxies_lock = threading.Lock()
        self.keep_affinity = keep_affinity
        if not keep_affinity:
            self._session.cookies.set_policy(_NoAffinityPolicy())
            self._drop_affinity_cookies()

    @property
    def session(self) -> requests.Session:
        """The underlying session (for inspection; do not send through it)."""
        return self._session

    def proxies_for(self, url: str) -> dict[str, str]:
        """The proxies the environment gives ``url``'s origin (empty when NO_PROXY matches)."""
        origin = _origin(url)
        with self._proxies_lock:
            found = self._proxies.get(origin)
            if found is None:
                found = dict(requests.utils.get_environ_proxies(url))
                self._proxies[origin] = found
            return found

    def _drop_affinity_cookies(self) -> None:
        jar = self._session.cookies
        cookies: list[Cookie] = list(iter(jar))
        for cookie in cookies:
            if cookie.name in AFFINITY_COOKIES:
                jar.clear(cookie.domain, cookie.path, cookie.name)

    def send(self, request: Request) -> Response:
        """Send ``request`` and read the whole body, within its deadline and size limit."""
        with deadline_exchange(request.deadline, self._clock) as current:
            raw: requests.Response | None = None
            try:
                raw = self._session.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    data=request.content,
                    timeout=request.timeout,
                    allow_redirects=False,
                    verify=self._verify,
                    proxies=self.proxies_for(request.url),
                    stream=True,
                )
                content = _read_body(raw, request, current, self._clock)
            except requests.exceptions.RequestException as exc:
                raise _transport_error(request, exc, current) from None
            finally:
                if raw is not None:
                    raw.close()
        if not self.keep_affinity:
            self._drop_affinity_cookies()
        return Response(
            status=raw.status_code,
            headers=CaseInsensitiveDict(raw.headers),
            content=content,
            url=request.url,
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __repr__(self) -> str:
        return f"RequestsTransport(keep_affinity={self.keep_affinity})"


_CHUNK = 64 * 1024


def _read_body(
    raw: requests.Response,
    request: Request,
    current: Exchange | None,
    clock: Callable[[], float],
) -> bytes:
    """Stream the body with a byte counter and the deadline, whatever the framing."""
    limit = request.max_response_bytes
    if limit is not None:
        declared = (raw.headers.get("Content-Length") or "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(request, limit, int(declared), announced=True)
    body = io.BytesIO()
    size = 0
    for chunk in raw.iter_content(_CHUNK):
        size += len(chunk)
        if limit is not None and size > limit:
            raise _too_large(request, limit, size, announced=False)
        body.write(chunk)
        if current is not None and current.deadline <= clock():
            current.expired = True
            raise _deadline_error(request, received=size)
    return body.getvalue()


def _too_large(
    request: Request, limit: int, size: int, *, announced: bool
) -> ResponseTooLargeError:
    what = f"announces {size} bytes" if announced else f"passed {limit} bytes"
    return ResponseTooLargeError(
        f"{request.method} {redact_url(request.url)}: the response {what}, more than the "
        f"limit of {_mib(limit)} MiB (max_response_mb / D365_MAX_RESPONSE_MB); reading stopped. "
        "Ask for less ($select fewer columns, a smaller page size or batch), or raise the limit "
        "if an answer this large is expected",
        limit=limit,
        received=size,
    )


def _deadline_error(request: Request, *, received: int | None = None) -> RequestDeadlineError:
    got = "" if received is None else f" ({received} bytes of the answer had arrived)"
    return RequestDeadlineError(
        f"{request.method} {redact_url(request.url)}: no complete answer within the "
        f"{request.deadline:g}s request deadline (request_deadline / D365_REQUEST_DEADLINE)"
        f"{got}; the server or a proxy is answering too slowly. The request may or may not "
        "have been applied: check before sending a write again",
        deadline=request.deadline,
    )


def _transport_error(
    request: Request, exc: requests.exceptions.RequestException, current: Exchange | None
) -> TransportError:
    """The :mod:`d365leads.errors` exception for a failure inside ``requests``."""
    if current is not None and current.expired:
        return _deadline_error(request)
    where = f"{request.method} {redact_url(request.url)}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ConnectError(
            f"could not connect to {_origin(request.url)} in time: nothing was sent"
        )
    if isinstance(exc, requests.exceptions.ReadTimeout) or _caused_by(exc, ReadTimeoutError):
        return RequestTimeoutError(
            f"{where}: no response within {request.timeout}s; "
            "the request may or may not have been applied"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return ConnectError(
            f"TLS handshake with {_origin(request.url)} failed (certificate not trusted?): "
            f"{type(exc).__name__}"
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _never_connected(exc):
            return ConnectError(f"could not connect to {_origin(request.url)}: nothing was sent")
        return TransportError(
            f"{where}: connection failed ({_reason(exc)}); "
            "the request may or may not have been applied"
        )
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return TransportError(
            f"{where}: the answer was cut off before its end ({_reason(exc)}); "
            "the request may or may not have been applied"
        )
    return TransportError(
        f"{where}: {type(exc).__name__} ({_reason(exc)}); "
        "the request may or may not have been applied"
    )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.3g}"


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased (the unit of trust and of proxying)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _never_connected(exc: BaseException) -> bool:
    """True when the connection was never established (refused, DNS), so nothing was sent."""
    return _caused_by(exc, (NewConnectionError, NameResolutionError))


def _caused_by(
    exc: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]
) -> bool:
    """True when ``exc`` or anything it wraps (reason, cause, context, args) is a ``kinds``."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kinds):
            return True
        stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        stack.extend(a for a in current.args if isinstance(a, BaseException))
    return False


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."
