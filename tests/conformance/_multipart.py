"""Read a ``$batch`` response body (documented or actual) into comparable parts.

Written for these tests from the OData batch format: ``--boundary`` delimited parts, each either
a nested ``multipart/mixed`` changeset or an ``application/http`` part holding one HTTP response.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_BOUNDARY = re.compile(r"boundary=\"?([^\";\s]+)\"?", re.IGNORECASE)


@dataclass
class Part:
    """One operation's response inside a batch."""

    status: int
    headers: dict[str, str]
    body: Any
    content_id: str | None = None


@dataclass
class Block:
    """A changeset (``parts``) or a single operation (``part``)."""

    part: Part | None = None
    parts: list[Part] = field(default_factory=list)


def _split_headers(text: str) -> tuple[dict[str, str], str]:
    head, _, rest = text.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
    return headers, rest


def _sections(text: str, boundary: str) -> list[str]:
    pieces = re.split(rf"^--{re.escape(boundary)}(?:--)?[ \t]*$", text, flags=re.MULTILINE)
    return [p.strip("\n") for p in pieces[1:] if p.strip()]


def _http_part(text: str, mime: dict[str, str]) -> Part:
    status_line, _, rest = text.lstrip("\n").partition("\n")
    match = re.match(r"HTTP/1\.1\s+(\d{3})", status_line)
    if match is None:
        raise ValueError(f"not an HTTP response line: {status_line!r}")
    headers, body = _split_headers(rest)
    body = body.strip()
    parsed: Any = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body
    content_id = next((v for k, v in mime.items() if k.lower() == "content-id"), None)
    return Part(int(match.group(1)), headers, parsed, content_id)


def parse_batch(body: str, boundary: str | None = None) -> list[Block]:
    """The blocks of a batch response; the boundary is read from the first line if not given."""
    text = body.replace("\r\n", "\n")
    if boundary is None:
        first = text.lstrip("\n").split("\n", 1)[0]
        if not first.startswith("--"):
            raise ValueError(f"a batch body starts with --<boundary>, not {first!r}")
        boundary = first[2:].strip()
    blocks: list[Block] = []
    for section in _sections(text, boundary):
        mime, rest = _split_headers(section)
        content_type = next((v for k, v in mime.items() if k.lower() == "content-type"), "")
        if content_type.lower().startswith("multipart/mixed"):
            found = _BOUNDARY.search(content_type)
            if found is None:
                raise ValueError(f"changeset without a boundary: {content_type!r}")
            parts = []
            for inner in _sections(rest, found.group(1)):
                inner_mime, inner_rest = _split_headers(inner)
                parts.append(_http_part(inner_rest, inner_mime))
            blocks.append(Block(parts=parts))
        else:
            blocks.append(Block(part=_http_part(rest, mime)))
    return blocks
