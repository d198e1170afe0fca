"""The wire: :class:`Request`/:class:`Response` values and the :class:`Transport` that sends them.

:class:`RequestsTransport` is the only code in d365leads that calls ``requests`` to send. It keeps
one pooled :class:`requests.Session` sized for concurrent workers, always verifies TLS, and can
refuse the ``ARRAffinity`` cookie so parallel requests spread over all web servers
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits#remove-the-affinity-cookie).
"""

from __future__ import annotations

import json as _json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import Cookie, DefaultCookiePolicy
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit
from urllib.request import Request as _UrlRequest

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from d365leads import _wire
from d365leads.errors import ConnectError, RequestTimeoutError, TransportError
from d365leads.redaction import redact_headers

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
    """

    def __init__(
        self,
        *,
        pool_size: int = 16,
        keep_affinity: bool = True,
        session: requests.Session | None = None,
    ) -> None:
        self._session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
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
        """Send ``request`` and read the whole body."""
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
            )
            content = raw.content
        except requests.exceptions.ConnectTimeout:
            raise ConnectError(
                f"could not connect to {_origin(request.url)} in time: nothing was sent"
            ) from None
        except requests.exceptions.ReadTimeout:
            raise RequestTimeoutError(
                f"{request.method} {request.url}: no response within {request.timeout}s; "
                "the request may or may not have been applied"
            ) from None
        except requests.exceptions.SSLError as exc:
            raise ConnectError(
                f"TLS handshake with {_origin(request.url)} failed (certificate not trusted?): "
                f"{type(exc).__name__}"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise ConnectError(
                    f"could not connect to {_origin(request.url)}: nothing was sent"
                ) from None
            raise TransportError(
                f"{request.method} {request.url}: connection failed ({_reason(exc)}); "
                "the request may or may not have been applied"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(
                f"{request.method} {request.url}: {type(exc).__name__} ({_reason(exc)}); "
                "the request may or may not have been applied"
            ) from None
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


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased (the unit of trust and of proxying)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _never_connected(exc: BaseException) -> bool:
    """True when the connection was never established (refused, DNS), so nothing was sent."""
    import urllib3.exceptions as u3

    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (u3.NewConnectionError, u3.NameResolutionError)):
            return True
        stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        stack.extend(a for a in current.args if isinstance(a, BaseException))
    return False


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."
