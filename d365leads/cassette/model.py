"""The cassette file: recorded Web API interactions, already redacted, as JSON.

A cassette is written once, after redaction, and never partially: :meth:`Cassette.save` writes a
temporary file beside the target and renames it into place, so a crash leaves either the old
cassette or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT_VERSION",
    "PLACEHOLDER_ORG_URL",
    "Cassette",
    "CassetteFormatError",
    "Interaction",
    "RecordedRequest",
    "RecordedResponse",
]

FORMAT_VERSION = 1
PLACEHOLDER_ORG_URL = "https://fake-org.crm.dynamics.com"


class CassetteFormatError(ValueError):
    """A cassette file is not valid JSON or not in the expected shape."""


@dataclass
class RecordedRequest:
    """A request as stored: path below the org, decoded query pairs, headers and body."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # parsed JSON, text, or None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {
            "method": self.method,
            "path": self.path,
            "query": [list(pair) for pair in self.query],
            "headers": dict(self.headers),
            "body": self.body,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedRequest:
        """Build from the JSON form."""
        return cls(
            method=str(data["method"]),
            path=str(data["path"]),
            query=[(str(k), str(v)) for k, v in data.get("query", [])],
            headers={str(k): str(v) for k, v in data.get("headers", {}).items()},
            body=data.get("body"),
        )


@dataclass
class RecordedResponse:
    """A response as stored: status, kept headers and body (parsed JSON or text)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {"status": self.status, "headers": dict(self.headers), "body": self.body}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedResponse:
        """Build from the JSON form."""
        return cls(
            status=int(data["status"]),
            headers={str(k): str(v) for k, v in data.get("headers", {}).items()},
            body=data.get("body"),
        )

    def body_bytes(self) -> bytes:
        """The body as it goes on the wire."""
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@dataclass
class Interaction:
    """One request and the response it got."""

    request: RecordedRequest
    response: RecordedResponse

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {"request": self.request.to_json(), "response": self.response.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Interaction:
        """Build from the JSON form."""
        return cls(
            RecordedRequest.from_json(data["request"]),
            RecordedResponse.from_json(data["response"]),
        )


@dataclass
class Cassette:
    """An ordered list of interactions plus a small header."""

    interactions: list[Interaction] = field(default_factory=list)
    org_url: str = PLACEHOLDER_ORG_URL
    api_version: str = "v9.2"
    recorded_at: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {
            "format": "d365leads-cassette",
            "version": FORMAT_VERSION,
            "recorded_at": self.recorded_at,
            "api_version": self.api_version,
            "org_url": self.org_url,
            "interactions": [i.to_json() for i in self.interactions],
        }

    @classmethod
    def from_json(cls, data: Any) -> Cassette:
        """Build from the JSON form, checking the header."""
        if not isinstance(data, dict) or data.get("format") != "d365leads-cassette":
            raise CassetteFormatError("not a d365leads cassette (missing format header)")
        if data.get("version") != FORMAT_VERSION:
            raise CassetteFormatError(
                f"cassette format version {data.get('version')!r} is not supported "
                f"(this d365leads reads version {FORMAT_VERSION})"
            )
        try:
            interactions = [Interaction.from_json(i) for i in data.get("interactions", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise CassetteFormatError(f"malformed interaction in cassette: {exc}") from exc
        return cls(
            interactions=interactions,
            org_url=str(data.get("org_url", PLACEHOLDER_ORG_URL)),
            api_version=str(data.get("api_version", "v9.2")),
            recorded_at=str(data.get("recorded_at", "")),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read a cassette file."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except ValueError as exc:
            raise CassetteFormatError(f"{p}: not valid JSON ({exc})") from exc
        try:
            return cls.from_json(data)
        except CassetteFormatError as exc:
            raise CassetteFormatError(f"{p}: {exc}") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the cassette atomically (temporary file, then rename)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)  # redacted, meant to be committed: not mkstemp's 0600
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
