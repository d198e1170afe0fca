"""The ``$batch`` multipart/mixed codec: parse a batch request, encode its response.

Wire facts (``dataverse-web-api.md`` §5, https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api):

* the body is ``multipart/mixed``; each part is ``application/http`` holding one request, or a
  nested ``multipart/mixed`` *changeset* whose operations are atomic;
* at most 1000 operations per batch; no nested batches; GET is not allowed in a changeset;
* inside a changeset ``Content-ID: n`` names an operation and ``$n`` refers to the record it
  created, in a later request line (``PATCH $1``) or in a body (``"x@odata.bind": "$1"``);
* operations run in order and the response parts come back in the same order, under a
  ``batchresponse_<guid>`` boundary (``changesetresponse_<guid>`` for changesets);
* without ``Prefer: odata.continue-on-error`` the batch stops at the first failure and answers
  ``400`` holding only the failing part; with it the batch answers ``200`` with every part.

Running the operations is the batch handler's job (:mod:`~d365leads.fake.handlers.batch`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus

from ..core.fault import FakeFault, bad_request
from .messages import header_value

__all__ = [
    "BatchFormatError",
    "BatchItem",
    "BatchOperation",
    "ChangeSet",
    "ItemResponse",
    "PartResponse",
    "content_id_missing",
    "encode_batch_response",
    "iter_operations",
    "parse_batch",
    "parse_boundary",
]

CRLF = b"\r\n"


class BatchFormatError(FakeFault):
    """The ``$batch`` body cannot be read (400 with what was wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "0x80048d19", message)


def content_id_missing(reference: str) -> FakeFault:
    """400 for a ``$n`` reference that no earlier operation of the changeset declared."""
    return bad_request(f"Content-ID Reference: '{reference}' does not exist in the batch context.")


@dataclass
class BatchOperation:
    """One request inside a ``$batch`` (``url`` as written on the request line)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_id: str | None = None

    def header(self, name: str) -> str | None:
        """A header of the operation, matched case-insensitively."""
        return header_value(self.headers, name)


@dataclass
class ChangeSet:
    """An atomic group of write operations."""

    operations: list[BatchOperation]


BatchItem = BatchOperation | ChangeSet


@dataclass
class PartResponse:
    """The response of one operation, as it goes into the multipart answer."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_id: str | None = None


ItemResponse = PartResponse | list[PartResponse]


# --- decoding -----------------------------------------------------------------------------


def parse_boundary(content_type: str | None) -> str:
    """The ``boundary`` parameter of a ``multipart/mixed`` content type."""
    if not content_type:
        raise BatchFormatError(
            "The $batch request has no Content-Type; send 'multipart/mixed; boundary=batch_<id>'."
        )
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "multipart/mixed":
        raise BatchFormatError(
            f"The $batch request must be 'multipart/mixed', not '{media.strip()}'."
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if value:
                return value
    raise BatchFormatError("The multipart/mixed Content-Type of the $batch has no boundary.")


def _split_parts(body: bytes, boundary: str) -> list[bytes]:
    # The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1); bare LF is
    # accepted too.  The preamble before the first delimiter is ignored.
    delimiter = re.compile(
        rb"(?:\A|\r?\n)--" + re.escape(boundary.encode("latin-1")) + rb"(--)?[ \t]*(?:\r?\n|\Z)"
    )
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):
            return parts
        start = match.end()
    if start is None:
        raise BatchFormatError(f"The $batch body has no part delimited by '--{boundary}'.")
    raise BatchFormatError(f"The $batch body is not terminated by '--{boundary}--'.")


def _split_head(data: bytes) -> tuple[list[bytes], bytes]:
    """Split ``data`` into header lines and what follows the first empty line."""
    match = re.search(rb"\r?\n\r?\n", data)
    if match is None:
        head, rest = data, b""
    else:
        head, rest = data[: match.start()], data[match.end() :]
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")]
    return [line for line in lines if line], rest


def _headers(lines: list[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name.strip():
            raise BatchFormatError(f"Malformed header line in the $batch body: '{name.strip()}'.")
        headers[name.strip()] = value.strip()
    return headers


def _parse_operation(part: bytes, *, in_changeset: bool) -> BatchOperation:
    head, message = _split_head(part)
    headers = _headers(head)
    content_type = (header_value(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/http":
        raise BatchFormatError(
            "Each $batch part must have 'Content-Type: application/http' (or be a changeset); "
            f"found '{content_type or '(none)'}'."
        )
    message = message.lstrip(b"\r\n")
    line_end = message.find(b"\n")
    request_line = (message if line_end < 0 else message[:line_end]).rstrip(b"\r")
    line_text = request_line.decode("utf-8", errors="replace")
    words = line_text.split()
    if len(words) not in (2, 3) or (len(words) == 3 and not words[2].startswith("HTTP/")):
        raise BatchFormatError(
            "A $batch part must start with a request line such as "
            f"'POST /api/data/v9.2/leads HTTP/1.1'; found '{line_text}'."
        )
    method, url = words[0].upper(), words[1]
    rest = b"" if line_end < 0 else message[line_end + 1 :]
    if rest[:2] == CRLF or rest[:1] == b"\n":
        inner_lines: list[bytes] = []
        body = rest[2:] if rest[:2] == CRLF else rest[1:]
    else:
        inner_lines, body = _split_head(rest)
    body = body.rstrip(b"\r\n")
    content_id = header_value(headers, "Content-ID")
    inner = _headers(inner_lines)
    if content_id is None:
        content_id = header_value(inner, "Content-ID")
    if method == "GET" and in_changeset:
        raise BatchFormatError(
            "GET requests are not allowed inside a changeset; put them outside it."
        )
    return BatchOperation(method, url, inner, body, content_id.strip() if content_id else None)


def parse_batch(body: bytes, content_type: str | None) -> list[BatchItem]:
    """Decode a ``$batch`` body into operations and changesets, in request order."""
    items: list[BatchItem] = []
    for part in _split_parts(body, parse_boundary(content_type)):
        head, rest = _split_head(part)
        headers = _headers(head)
        part_type = header_value(headers, "Content-Type") or ""
        if part_type.split(";")[0].strip().lower() == "multipart/mixed":
            operations = []
            for inner in _split_parts(rest, parse_boundary(part_type)):
                inner_head, _ = _split_head(inner)
                inner_type = header_value(_headers(inner_head), "Content-Type") or ""
                if inner_type.split(";")[0].strip().lower() == "multipart/mixed":
                    raise BatchFormatError("Changesets cannot be nested inside a changeset.")
                operations.append(_parse_operation(inner, in_changeset=True))
            items.append(ChangeSet(operations))
        else:
            items.append(_parse_operation(part, in_changeset=False))
    return items


# --- encoding -----------------------------------------------------------------------------


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _encode_part(part: PartResponse) -> bytes:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if part.content_id is not None:
        lines.append(f"Content-ID: {part.content_id}")
    lines.append("")
    lines.append(f"HTTP/1.1 {part.status} {_reason(part.status)}")
    lines.extend(f"{name}: {value}" for name, value in part.headers.items())
    lines.append("")
    return "\r\n".join(lines).encode("utf-8") + CRLF + part.body


def encode_batch_response(
    items: list[ItemResponse], new_id: Callable[[], str] | None = None
) -> tuple[str, bytes]:
    """Encode response parts as Dataverse does; returns ``(content type, body)``."""
    make_id = new_id or (lambda: str(uuid.uuid4()))
    boundary = f"batchresponse_{make_id()}"
    chunks: list[bytes] = []
    for item in items:
        chunks.append(f"--{boundary}\r\n".encode())
        if isinstance(item, PartResponse):
            chunks.append(_encode_part(item) + CRLF)
            continue
        inner = f"changesetresponse_{make_id()}"
        chunks.append(f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode())
        for part in item:
            chunks.append(f"--{inner}\r\n".encode() + _encode_part(part) + CRLF)
        chunks.append(f"--{inner}--\r\n".encode())
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(chunks)


def iter_operations(items: list[BatchItem]) -> Iterator[BatchOperation]:
    """Every operation of a parsed batch, in order (changesets flattened)."""
    for item in items:
        if isinstance(item, ChangeSet):
            yield from item.operations
        else:
            yield item
