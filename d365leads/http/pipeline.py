"""The request pipeline: every call to Dataverse goes through :class:`ApiSession`.

For each request it applies, in order: the throttle gate (wait out a 429 pause), OData headers
and ``Prefer``, the bearer token (a 401 drops the cached token and resends once), the
transport, logging (method, URL, status, duration, Dataverse error code; never headers or
tokens), the retry policy, and finally maps error responses to :mod:`d365leads.errors`.
"""

from __future__ import annotations

import copy
import json as _json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from d365leads import _wire
from d365leads._version import __version__
from d365leads.auth import TokenProvider
from d365leads.config import normalize_org_url
from d365leads.errors import (
    HTTPError,
    InvalidInputError,
    MalformedResponseError,
    ResponseTooLargeError,
    ThrottledError,
    TransportError,
    UnauthorizedError,
    UntrustedLinkError,
    error_from_response,
)
from d365leads.http.impersonation import Caller
from d365leads.http.json_body import json_object
from d365leads.http.page_text import page_with_texts
from d365leads.http.retry import RetryPolicy, is_idempotent
from d365leads.http.throttle import ThrottleState
from d365leads.http.transport import Request, RequestsTransport, Response, Transport, _origin
from d365leads.redaction import RedactingFilter, redact_url

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "ApiSession",
    "Page",
    "encode_params",
    "logger",
]

USER_AGENT = f"d365leads/{__version__}"
#: Seconds one request may take in all (``Settings.request_deadline``; see config).
DEFAULT_DEADLINE = 600.0
#: Largest body read into memory (``Settings.max_response_mb``; see config).
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024

logger = logging.getLogger("d365leads.http")
_redactor = RedactingFilter()
logger.addFilter(_redactor)

# Characters left readable in paths and query values; everything else is percent-encoded
# (spaces as %20, never "+": OData reads "+" literally).
_PATH_SAFE = "/(),='@$:*!;~-._"
_QUERY_SAFE = "$'(),/:@*!;=~-._"


def encode_params(params: Mapping[str, str]) -> str:
    """Encode query options (``$filter`` etc.) for a URL, spaces as ``%20``."""
    return "&".join(
        f"{quote(str(name), safe='$@')}={quote(str(value), safe=_QUERY_SAFE)}"
        for name, value in params.items()
    )


@dataclass
class Page:
    """One page of a collection: its rows and the links to continue."""

    rows: list[dict[str, Any]]
    next_link: str | None = None
    delta_link: str | None = None
    count: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    row_texts: list[str] | None = field(default=None, repr=False)  # iter_pages(row_texts=True)


class ApiSession:
    """Sends requests to one org's Web API with auth, retry, throttling and logging.

    ``sleep`` and ``clock`` (monotonic seconds) are injectable so tests never wait;
    ``wall_clock`` (POSIX seconds) dates a ``Retry-After`` given as an HTTP date. ``deadline``
    bounds each request from sending to the last byte of its answer and ``max_response_bytes``
    its body (None: no limit); both are applied while the body streams in. ``caller``
    impersonates a user on every request (see :meth:`impersonating`); ``limit_window`` paces
    on the remaining-budget headers (:mod:`d365leads.http.pacing`; None: off).
    """

    def __init__(
        self,
        org_url: str,
        *,
        token_provider: TokenProvider,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        throttle: ThrottleState | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float | None = 120.0,
        page_size: int = _wire.MAX_PAGE_SIZE,
        keep_affinity: bool = True,
        pool_size: int = 16,
        user_agent: str = USER_AGENT,
        deadline: float | None = DEFAULT_DEADLINE,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        wall_clock: Callable[[], float] = time.time,
        caller: Caller | None = None,
        limit_window: float | None = None,
    ) -> None:
        self.caller = caller
        """The user every request acts as (``CallerObjectId``/``MSCRMCallerID``), if any."""
        self.org_url = normalize_org_url(org_url, setting="url")
        self.base_url = self.org_url + _wire.API_PATH
        self._origin = _origin(self.org_url)
        endpoint = urlsplit(self.org_url)
        self._endpoint = (
            endpoint.scheme,
            endpoint.hostname or "",
            endpoint.port or {"https": 443, "http": 80}[endpoint.scheme],
        )
        self._token_provider = token_provider
        self.transport: Transport = transport or RequestsTransport(
            pool_size=pool_size, keep_affinity=keep_affinity
        )
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self.throttle = throttle or ThrottleState(clock=clock, limit_window=limit_window)
        self.timeout = timeout
        self.page_size = page_size
        self.user_agent = user_agent
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self._wall_clock = wall_clock

    def impersonating(self, caller: Caller) -> ApiSession:
        """A session that sends every request on behalf of ``caller``.

        It shares this session's token provider and connections but has its own throttle
        state: Dataverse counts limits per user, so one impersonated user's 429 pauses only
        the requests sent as that user.
        """
        twin = copy.copy(self)
        twin.caller = caller
        twin.throttle = self.throttle.sibling()
        return twin

    # -- URLs -------------------------------------------------------------------------------

    def build_url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """Absolute URL for ``path`` (relative to :attr:`base_url`, unencoded) or a nextLink.

        Absolute URLs must point at this org: the bearer token is never sent elsewhere.
        """
        if path.startswith(("https://", "http://")):
            if not self.is_trusted_url(path):
                raise InvalidInputError(
                    f"refusing to send a request for {self.org_url} to {_origin(path)}"
                )
            url = path
        else:
            url = self.base_url + quote(path.lstrip("/"), safe=_PATH_SAFE)
        if params:
            url += ("&" if "?" in url else "?") + encode_params(params)
        return url

    def is_trusted_url(self, url: str) -> bool:
        """True when ``url`` is on this org's scheme, host and port, with no user info."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        if parts.username is not None or parts.password is not None or not parts.hostname:
            return False
        scheme = parts.scheme.lower()
        default = {"https": 443, "http": 80}.get(scheme)
        return (scheme, parts.hostname.lower(), port or default) == self._endpoint

    def check_link(self, link: object, *, kind: str, request_url: str) -> str:
        """Return a server-sent ``link`` (nextLink, deltaLink) after checking it stays here.

        Raises :class:`~d365leads.errors.UntrustedLinkError` for a link to another host, port
        or scheme (plain ``http://`` included) or outside the Web API, and
        :class:`~d365leads.errors.MalformedResponseError` for a link that is not an absolute
        URL; no request is ever sent to it.
        """
        if not isinstance(link, str) or not link.startswith(("https://", "http://")):
            raise MalformedResponseError(
                f"GET {redact_url(request_url)}: the {kind} {str(link)[:200]!r} is not an "
                "absolute URL; the server's answer is not a Dataverse page"
            )
        if not self.is_trusted_url(link) or not urlsplit(link).path.startswith(
            urlsplit(self.base_url).path
        ):
            raise UntrustedLinkError(
                f"GET {redact_url(request_url)}: the {kind} points to {_origin(link)}"
                f"{urlsplit(link).path[:100]}, outside {self.base_url}; refusing to follow it "
                "(the access token would go to another server). Nothing was sent to it; check "
                "for a proxy or gateway rewriting Dataverse's answers"
            )
        return link

    # -- sending ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        prefer: Sequence[str] = (),
        idempotent: bool | None = None,
        retry: bool = True,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and return a successful (< 400) response.

        Raises the matching :class:`~d365leads.errors.HTTPError` subclass for error statuses
        and :class:`~d365leads.errors.TransportError` when no response arrived.
        """
        method = method.upper()
        url = self.build_url(path, params)
        final_headers = self._headers(method, headers, prefer)
        if json is not None:
            if content is not None:
                raise InvalidInputError("pass either json= or content=, not both")
            content = _json.dumps(json, ensure_ascii=False, separators=(",", ":")).encode()
            final_headers.setdefault("Content-Type", "application/json")
        if idempotent is None:
            idempotent = is_idempotent(method, final_headers)
        deadline = self.deadline
        if deadline is not None and timeout is not None:
            deadline = max(deadline, timeout)  # an explicit per-call timeout wins
        policy = self.retry
        start = self._clock()
        retry_number = 0
        refreshed = False
        force_refresh = False
        while True:
            self.throttle.wait(self._sleep)
            token = self._token_provider.get_token(force_refresh=force_refresh)
            force_refresh = False
            _redactor.add_secret(token.token)
            request = Request(
                method,
                url,
                {**final_headers, "Authorization": f"Bearer {token.token}"},
                content,
                self.timeout if timeout is None else timeout,
                deadline=deadline,
                max_response_bytes=self.max_response_bytes,
            )
            sent_at = self._clock()
            try:
                response = self.transport.send(request)
            except TransportError as exc:
                elapsed_ms = (self._clock() - sent_at) * 1000
                logger.warning(
                    "%s %s failed after %.0fms: %s", method, redact_url(url), elapsed_ms, exc
                )
                if retry and policy.can_retry_error(exc, idempotent=idempotent):
                    retry_number += 1
                    delay = policy.backoff(retry_number)
                    if policy.allows(retry_number, elapsed=self._clock() - start, delay=delay):
                        self._before_retry(
                            method, url, retry_number, delay, reason=type(exc).__name__
                        )
                        self._sleep(delay)
                        continue
                raise
            self._check_size(request, response)
            elapsed_ms = (self._clock() - sent_at) * 1000
            self.throttle.observe(response.headers, elapsed_ms / 1000)
            if response.status < 400:
                if logger.isEnabledFor(logging.DEBUG):  # skip redact_url on the hot path
                    logger.debug(
                        "%s %s -> %d in %.0fms",
                        method,
                        redact_url(url),
                        response.status,
                        elapsed_ms,
                    )
                return response
            error = error_from_response(
                response.status,
                response.headers,
                response.content,
                method=method,
                url=url,
                now=self._wall_clock(),
            )
            logger.info(
                "%s %s -> %d in %.0fms code=%s request_id=%s",
                method,
                redact_url(url),
                response.status,
                elapsed_ms,
                error.code or "-",
                error.request_id or "-",
            )
            if response.status == 401 and not refreshed:
                # The token may have been revoked or expired early: get a new one, resend once.
                refreshed = force_refresh = True
                continue
            if isinstance(error, UnauthorizedError):
                raise error
            throttled = response.status == 429 or isinstance(error, ThrottledError)
            retry_number += 1
            delay = policy.delay(retry_number, error.retry_after)
            elapsed = self._clock() - start
            retryable = (
                retry
                and policy.can_retry_status(response.status, idempotent=idempotent)
                and retry_number <= policy.max_retries
            )
            may_retry = retryable and policy.allows(retry_number, elapsed=elapsed, delay=delay)
            pause_target = 0.0
            if throttled:
                # Every worker on this identity pauses: for Retry-After, or our own backoff,
                # but never longer than the retry budget (a Retry-After of 10**9 is not obeyed).
                pause = error.retry_after
                if pause is None and may_retry:
                    pause = delay
                if pause is not None:
                    pause = min(pause, policy.max_retry_time)
                pause_target = self.throttle.record_throttle(pause)
            if not may_retry:
                if retryable and error.retry_after is not None:
                    raise _beyond_budget(error, policy.max_retry_time - elapsed) from None
                raise error
            self._before_retry(method, url, retry_number, delay, reason=f"HTTP {response.status}")
            self._sleep(delay)
            if throttled:
                self.throttle.mark_served(pause_target, delay)
            continue

    def _check_size(self, request: Request, response: Response) -> None:
        # RequestsTransport stops reading at the limit; this catches other transports.
        limit = self.max_response_bytes
        if limit is not None and len(response.content) > limit:
            raise ResponseTooLargeError(
                f"{request.method} {redact_url(request.url)}: the response has "
                f"{len(response.content)} bytes, more than the {limit / 1048576:g} MiB limit "
                "(max_response_mb / D365_MAX_RESPONSE_MB). Ask for less, or raise the limit",
                limit=limit,
                received=len(response.content),
            )

    def _before_retry(
        self, method: str, url: str, number: int, delay: float, *, reason: str
    ) -> None:
        self.throttle.record_retry()
        logger.warning(
            "%s %s: %s, retry %d/%d in %.2fs",
            method,
            redact_url(url),
            reason,
            number,
            self.retry.max_retries,
            delay,
        )

    def _headers(
        self, method: str, headers: Mapping[str, str] | None, prefer: Sequence[str]
    ) -> dict[str, str]:
        result = dict(_wire.ODATA_HEADERS)
        result["User-Agent"] = self.user_agent
        if method == "GET":
            # Keeps caches from serving stale expanded collections (Dataverse docs, "HTTP headers").
            result["If-None-Match"] = "null"
        if self.caller is not None:
            name, value = self.caller.header
            result[name] = value
        for name, value in (headers or {}).items():
            for existing in [k for k in result if k.lower() == name.lower()]:
                del result[existing]
            if name.lower() == "authorization":
                raise InvalidInputError("do not pass Authorization: the token provider sets it")
            result[name] = value
        preferences = [p for p in prefer if p]
        if preferences:
            existing_prefer = next((k for k in result if k.lower() == "prefer"), None)
            if existing_prefer is not None:
                preferences.insert(0, result.pop(existing_prefer))
            result["Prefer"] = ",".join(dict.fromkeys(preferences))
        return result

    # -- helpers ----------------------------------------------------------------------------

    def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        prefer: Sequence[str] = (),
    ) -> dict[str, Any]:
        """GET ``path`` and return its JSON object."""
        response = self.request("GET", path, params=params, headers=headers, prefer=prefer)
        return json_object(response, method="GET")

    def iter_pages(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        page_size: int | None = None,
        prefer: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        row_texts: bool = False,
    ) -> Iterator[Page]:
        """Yield the pages of a collection, following ``@odata.nextLink`` one page at a time.

        Sends ``Prefer: odata.maxpagesize`` on every page (Dataverse wants the same size on
        each request of a paged query) unless the query has ``$top``, which Dataverse ignores
        next to a page size (page-results doc); the nextLink is used exactly as returned.
        ``row_texts`` also gives each row's JSON text as sent (:attr:`Page.row_texts`).
        """
        size = page_size or self.page_size
        if not 1 <= size <= _wire.MAX_PAGE_SIZE:
            raise InvalidInputError(f"page_size must be 1 to {_wire.MAX_PAGE_SIZE}, got {size}")
        has_top = "$top" in (params or {}) or "$top=" in path.partition("?")[2]
        preferences = [*([] if has_top else [_wire.prefer_max_page_size(size)]), *prefer]
        target: str | None = path
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        while target is not None:
            got = self.request("GET", target, params=query, headers=headers, prefer=preferences)
            body, texts = page_with_texts(got) if row_texts else (json_object(got), None)
            here = self.build_url(target, query)
            rows = body.get("value")
            if not isinstance(rows, list):
                raise MalformedResponseError(
                    f"GET {redact_url(here)}: the response has no 'value' collection, so it "
                    "is not a page of rows"
                )
            # Links are checked before the page is handed out, so a hostile link neither
            # reaches a caller's state (a stored deltaLink) nor gets a request.
            next_link = body.get(_wire.ODATA_NEXT_LINK)
            if next_link is not None:
                next_link = self.check_link(next_link, kind="@odata.nextLink", request_url=here)
                if next_link in seen:
                    raise MalformedResponseError(
                        f"the server repeated the nextLink {redact_url(next_link)}; "
                        "following it would loop forever"
                    )
                seen.add(next_link)
            delta_link = body.get(_wire.ODATA_DELTA_LINK)
            if delta_link is not None:
                delta_link = self.check_link(delta_link, kind="@odata.deltaLink", request_url=here)
            count = body.get(_wire.ODATA_COUNT)
            yield Page(
                rows=rows,
                next_link=next_link,
                delta_link=delta_link,
                count=count if isinstance(count, int) else None,
                raw={k: v for k, v in body.items() if k != "value"},
                row_texts=texts,
            )
            target, query = next_link, None

    def close(self) -> None:
        """Close the transport's connections."""
        self.transport.close()

    def __repr__(self) -> str:
        return f"ApiSession({self.org_url!r}, throttle={self.throttle!r})"


def _seconds(value: float) -> str:
    """Seconds as the server wrote them: whole numbers in full (1000000000, not 1e+09)."""
    return str(int(value)) if value.is_integer() and value < 1e30 else f"{value:.3g}"


def _beyond_budget(error: HTTPError, budget: float) -> HTTPError:
    """``error`` with a note that its ``Retry-After`` is longer than the retry budget left."""
    return error.with_note(
        f"the server asked to wait {_seconds(error.retry_after or 0.0)}s before retrying "
        f"(Retry-After), more than the {_seconds(max(0.0, budget))}s left of the retry budget "
        "(max_retry_time / "
        "D365_MAX_RETRY_TIME), so the client stopped instead of sleeping; try again later"
    )
