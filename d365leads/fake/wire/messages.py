"""The fake's wire types: one request type, one response type, one handler signature.

Every transport (the ``responses`` adapter, the threaded HTTP server, ``$batch`` sub-requests)
builds a :class:`FakeRequest`, calls a :data:`Handler` and turns the :class:`FakeResponse` back
into its own form.  Middleware wraps a handler::

    def middleware(request: FakeRequest, call_next: Handler) -> FakeResponse: ...

A :class:`TransportFault` on a response asks the transport to misbehave instead of (or before)
delivering it: ``timeout`` (no answer), ``reset`` (connection closed without a reply),
``truncate`` (headers and half the body, then close) or ``delay`` (answer after ``seconds``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, unquote_plus, urlsplit

from .json_reader import read_json

__all__ = [
    "API_PATH",
    "FakeRequest",
    "FakeResponse",
    "Handler",
    "Middleware",
    "TransportFault",
    "header_value",
    "parse_prefer",
    "service_root",
]

API_PATH = "/api/data/v9.2/"

FaultKind = Literal["timeout", "reset", "truncate", "delay"]


@dataclass(frozen=True)
class TransportFault:
    """A transport-level failure the adapter must act out (see the module docstring)."""

    kind: FaultKind
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("timeout", "reset", "truncate", "delay"):
            raise ValueError(
                f"unknown transport fault {self.kind!r}; use timeout, reset, truncate or delay"
            )
        if self.seconds < 0:
            raise ValueError("a transport fault delay cannot be negative")


def header_value(headers: dict[str, str], name: str, default: str | None = None) -> str | None:
    """The value of header ``name`` in ``headers``, matched case-insensitively."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return default


def parse_prefer(values: list[str]) -> dict[str, str | None]:
    """Parse ``Prefer`` header values into ``{preference: value or None}``.

    Commas inside double quotes (``odata.include-annotations="a,b"``) do not split; the quotes
    around a value are removed.  Names are lower-cased, values kept as sent.
    """
    result: dict[str, str | None] = {}
    for value in values:
        items: list[str] = []
        current: list[str] = []
        quoted = False
        for char in value:
            if char == '"':
                quoted = not quoted
            if char == "," and not quoted:
                items.append("".join(current))
                current = []
            else:
                current.append(char)
        items.append("".join(current))
        for item in items:
            item = item.strip()
            if not item:
                continue
            name, sep, raw = item.partition("=")
            text = raw.strip()
            if len(text) >= 2 and text[0] == text[-1] == '"':
                text = text[1:-1]
            result[name.strip().lower()] = text if sep else None
    return result


@dataclass
class FakeRequest:
    """One HTTP request as the fake sees it.

    ``url`` is absolute, exactly as sent.  Derived views: :attr:`path` (the part after
    ``/api/data/v9.2/``, percent-decoded; for other hosts/paths the whole decoded path),
    :attr:`query` (ordered ``(name, value)`` pairs decoded as a form would be: ``+`` is a space
    and ``%2B`` a literal plus, as Dataverse reads query strings; in the path ``+`` stays
    literal), :meth:`header` (case-insensitive), :meth:`json` and :meth:`prefer`.
    ``timeout`` is the client's read timeout when the transport knows it (``responses``), else
    ``None``.
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    timeout: float | None = None
    # Parse caches, keyed by what they were parsed from (the fields stay mutable).
    _parsed_query: tuple[str, tuple[tuple[str, str], ...]] | None = field(
        default=None, init=False, compare=False
    )
    _parsed_prefer: tuple[tuple[str, ...], dict[str, str | None]] | None = field(
        default=None, init=False, compare=False
    )
    json_reader: str = field(default="strict", init=False, compare=False)
    """How :meth:`json` reads the body: ``strict`` (standard JSON) or ``odatalib`` (the OData
    reader's leniencies, :mod:`.json_reader`); the router sets ``FakeOptions.json_reader``."""

    def __post_init__(self) -> None:
        self.method = self.method.upper()

    def __repr__(self) -> str:
        # Headers are left out on purpose: they carry the bearer token.
        return f"FakeRequest({self.method} {self.url}, {len(self.body)} bytes)"

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return a header value, matching ``name`` case-insensitively."""
        return header_value(self.headers, name, default)

    @property
    def host(self) -> str:
        """The ``host[:port]`` the request was sent to, lower-cased."""
        return urlsplit(self.url).netloc.lower()

    @property
    def raw_path(self) -> str:
        """The URL path as sent (still percent-encoded)."""
        return urlsplit(self.url).path

    @property
    def is_api(self) -> bool:
        """True when the path is under ``/api/data/v9.2/``."""
        return API_PATH in self.raw_path or self.raw_path.rstrip("/") == API_PATH.rstrip("/")

    @property
    def path(self) -> str:
        """The resource path after ``/api/data/v9.2/``, percent-decoded (see class docs)."""
        raw = self.raw_path
        index = raw.find(API_PATH)
        if index >= 0:
            return unquote(raw[index + len(API_PATH) :])
        if raw.rstrip("/") == API_PATH.rstrip("/"):
            return ""
        return unquote(raw)

    @property
    def query_string(self) -> str:
        """The raw query string (without ``?``)."""
        return urlsplit(self.url).query

    def _query_pairs(self) -> tuple[tuple[str, str], ...]:
        # Handlers read several options per request: parse once per URL.
        cached = self._parsed_query
        if cached is None or cached[0] != self.url:
            pairs: list[tuple[str, str]] = []
            for part in self.query_string.split("&"):
                if not part:
                    continue
                name, _, value = part.partition("=")
                # Dataverse reads "+" in a query string as a space; a literal plus is sent as
                # %2B (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows).
                pairs.append((unquote_plus(name), unquote_plus(value)))
            cached = self._parsed_query = (self.url, tuple(pairs))
        return cached[1]

    @property
    def query(self) -> list[tuple[str, str]]:
        """Ordered, decoded query pairs (``+`` is a space, ``%2B`` a plus)."""
        return list(self._query_pairs())

    def query_value(self, name: str) -> str | None:
        """The last value of query option ``name`` (names are case-sensitive, as in OData)."""
        found: str | None = None
        for key, value in self._query_pairs():
            if key == name:
                found = value
        return found

    def prefer(self) -> dict[str, str | None]:
        """All ``Prefer`` preferences of the request (see :func:`parse_prefer`)."""
        values = tuple(v for k, v in self.headers.items() if k.lower() == "prefer")
        cached = self._parsed_prefer
        if cached is None or cached[0] != values:
            cached = self._parsed_prefer = (values, parse_prefer(list(values)))
        return dict(cached[1])

    def json(self) -> Any:
        """The body parsed as JSON (``None`` for an empty body); raises ``ValueError``."""
        if not self.body.strip():
            return None
        text = self.body.decode("utf-8")
        return read_json(text) if self.json_reader == "odatalib" else json.loads(text)


@dataclass
class FakeResponse:
    """One response (or transport fault) produced by a handler."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    fault: TransportFault | None = None

    @classmethod
    def json_body(
        cls, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> FakeResponse:
        """A JSON response with Dataverse's content type and ``OData-Version``."""
        return cls.json_text(status, json.dumps(payload), headers)

    @classmethod
    def json_text(
        cls, status: int, text: str, headers: dict[str, str] | None = None
    ) -> FakeResponse:
        """:meth:`json_body` of a payload already encoded as JSON ``text``."""
        merged = {
            "Content-Type": "application/json; odata.metadata=minimal",
            "OData-Version": "4.0",
        }
        merged.update(headers or {})
        return cls(status, merged, text.encode("utf-8"))

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> FakeResponse:
        """A response without a body (``204 No Content`` by default)."""
        merged = {"OData-Version": "4.0"}
        merged.update(headers or {})
        return cls(status, merged, b"")

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return a header value, matching ``name`` case-insensitively."""
        return header_value(self.headers, name, default)

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:
        fault = f", fault={self.fault.kind}" if self.fault else ""
        return f"FakeResponse({self.status}, {len(self.body)} bytes{fault})"


Handler = Callable[[FakeRequest], FakeResponse]
Middleware = Callable[[FakeRequest, Handler], FakeResponse]


def service_root(request: FakeRequest) -> str:
    """``scheme://host[/prefix]/api/data/v9.2/`` of the request (links use the caller's host)."""
    url = request.url.split("?", 1)[0]
    index = url.find(API_PATH)
    if index < 0:
        return url.rstrip("/") + API_PATH
    return url[: index + len(API_PATH)]
