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
    """A cassette file is not valid JSON or not in the expected shape.

    The message names the field, as a path such as ``interactions[2].response.status``.
    """


_JSON_TYPES: dict[type, str] = {
    str: "a string",
    int: "a whole number",
    list: "a list",
    dict: "an object",
}


def _field(data: dict[str, Any], name: str, where: str, kind: type, *, default: Any = ...) -> Any:
    """``data[name]`` checked to be a ``kind``; a missing field is an error without a default."""
    path = f"{where}.{name}" if where else name
    if name not in data:
        if default is ...:
            raise CassetteFormatError(f"{path} is missing")
        return default
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CassetteFormatError(f"{path} must be {_JSON_TYPES[kind]}, not {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CassetteFormatError(f"{where} must be an object, not {_describe(data)}")
    return data


def _string_map(data: dict[str, Any], name: str, where: str) -> dict[str, str]:
    headers = _field(data, name, where, dict, default={})
    for key, value in headers.items():
        if not isinstance(value, str):
            raise CassetteFormatError(
                f"{where}.{name}[{key!r}] must be a string, not {_describe(value)}"
            )
    return {str(k): v for k, v in headers.items()}


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
    def from_json(cls, data: dict[str, Any], where: str = "request") -> RecordedRequest:
        """Build from the JSON form; :class:`CassetteFormatError` names a malformed field."""
        data = _object(data, where)
        query: list[tuple[str, str]] = []
        for number, pair in enumerate(_field(data, "query", where, list, default=[])):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(p, str) for p in pair)
            ):
                raise CassetteFormatError(
                    f"{where}.query[{number}] must be a [name, value] pair of strings, "
                    f"not {_describe(pair)}"
                )
            query.append((pair[0], pair[1]))
        return cls(
            method=_field(data, "method", where, str),
            path=_field(data, "path", where, str),
            query=query,
            headers=_string_map(data, "headers", where),
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
    def from_json(cls, data: dict[str, Any], where: str = "response") -> RecordedResponse:
        """Build from the JSON form; :class:`CassetteFormatError` names a malformed field."""
        data = _object(data, where)
        status = _field(data, "status", where, int)
        if not 100 <= status <= 599:
            raise CassetteFormatError(f"{where}.status must be an HTTP status, not {status}")
        return cls(
            status=status,
            headers=_string_map(data, "headers", where),
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
    def from_json(cls, data: dict[str, Any], where: str = "interaction") -> Interaction:
        """Build from the JSON form; :class:`CassetteFormatError` names a malformed field."""
        data = _object(data, where)
        for name in ("request", "response"):
            if name not in data:
                raise CassetteFormatError(f"{where}.{name} is missing")
        return cls(
            RecordedRequest.from_json(data["request"], f"{where}.request"),
            RecordedResponse.from_json(data["response"], f"{where}.response"),
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
        items = _field(data, "interactions", "", list, default=[])
        interactions = [
            Interaction.from_json(item, f"interactions[{number}]")
            for number, item in enumerate(items)
        ]
        return cls(
            interactions=interactions,
            org_url=_field(data, "org_url", "", str, default=PLACEHOLDER_ORG_URL),
            api_version=_field(data, "api_version", "", str, default="v9.2"),
            recorded_at=_field(data, "recorded_at", "", str, default=""),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read a cassette file."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except UnicodeDecodeError as exc:
            raise CassetteFormatError(
                f"{p}: not UTF-8 text (byte {exc.start}); a cassette is a JSON file"
            ) from exc
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
