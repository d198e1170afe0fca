"""The ``multipart/mixed`` wire form of a ``$batch``: encoding the request, decoding the answer.

Wire format: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from d365leads import _wire
from d365leads.batch.operations import BatchOperation, header_value
from d365leads.batch.results import BatchResult, OperationResult
from d365leads.errors import BatchError, InvalidInputError

__all__ = ["EncodedBatch", "decode_batch_response", "encode_batch"]

_CRLF = b"\r\n"
_STATUS_LINE = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})(?:\s+(.*))?$")
_BOUNDARY_PARAM = re.compile(r'boundary\s*=\s*"?([^";,\s]+)"?', re.IGNORECASE)


@dataclass(frozen=True)
class EncodedBatch:
    """A batch ready to send: the ``Content-Type`` header (with boundary) and the body."""

    content_type: str
    body: bytes
    boundary: str


def _encode_operation(op: BatchOperation) -> bytes:
    lines = [
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
    ]
    if op.content_id is not None:
        lines.append(f"Content-ID: {op.content_id}")
    lines.append("")
    lines.append(f"{op.method} {op.url} HTTP/1.1")
    body = b""
    headers = dict(op.headers)
    if op.body is not None:
        body = json.dumps(op.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if header_value(headers, "Content-Type") is None:
            headers["Content-Type"] = "application/json; type=entry"
    if header_value(headers, "Accept") is None:
        headers["Accept"] = "application/json"
    for key, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key:
            raise InvalidInputError(f"header {key!r} of a batch operation contains a line break")
        lines.append(f"{key}: {value}")
    lines.append("")
    return "\r\n".join(lines).encode("utf-8") + _CRLF + body


def encode_batch(
    operations: Sequence[BatchOperation], *, boundary: str | None = None
) -> EncodedBatch:
    """Encode operations as a ``multipart/mixed`` ``$batch`` body.

    Operations sharing a ``changeset`` number must be contiguous; each changeset becomes a
    nested ``multipart/mixed`` part.  Raises :class:`InvalidInputError` for more than 1,000
    operations, a split changeset or an empty batch.
    """
    if not operations:
        raise InvalidInputError("a batch needs at least one operation")
    if len(operations) > _wire.MAX_BATCH_OPERATIONS:
        raise InvalidInputError(
            f"a batch holds at most {_wire.MAX_BATCH_OPERATIONS} operations, "
            f"got {len(operations)}; split it"
        )
    batch_boundary = boundary or f"batch_{uuid.uuid4().hex}"
    out: list[bytes] = []
    seen: set[int] = set()
    index = 0
    while index < len(operations):
        op = operations[index]
        if op.changeset is None:
            out.append(f"--{batch_boundary}\r\n".encode())
            out.append(_encode_operation(op) + _CRLF)
            index += 1
            continue
        number = op.changeset
        if number in seen:
            raise InvalidInputError(f"the operations of changeset {number} are not contiguous")
        seen.add(number)
        group: list[BatchOperation] = []
        while index < len(operations) and operations[index].changeset == number:
            group.append(operations[index])
            index += 1
        cs_boundary = f"changeset_{uuid.uuid4().hex}"
        out.append(f"--{batch_boundary}\r\n".encode())
        out.append(f'Content-Type: multipart/mixed; boundary="{cs_boundary}"\r\n\r\n'.encode())
        for member in group:
            out.append(f"--{cs_boundary}\r\n".encode())
            out.append(_encode_operation(member) + _CRLF)
        out.append(f"--{cs_boundary}--\r\n".encode())
    out.append(f"--{batch_boundary}--\r\n".encode())
    return EncodedBatch(
        content_type=f'multipart/mixed; boundary="{batch_boundary}"',
        body=b"".join(out),
        boundary=batch_boundary,
    )


@dataclass(frozen=True)
class _Part:
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    content_id: str | None


def _boundary_of(content_type: str) -> str:
    found = _BOUNDARY_PARAM.search(content_type)
    if not found:
        raise BatchError(
            f"the $batch response has no multipart boundary (Content-Type {content_type!r})"
        )
    return found.group(1)


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        pos = data.find(sep)
        if pos >= 0:
            return data[:pos], data[pos + len(sep) :]
    return data, b""


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw in block.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            continue
        name, sep, value = raw.partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    return headers


def _split_multipart(body: bytes, boundary: str) -> list[_Part]:
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)
    parts: list[_Part] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        # The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, rest = _split_head(chunk)
        parts.append(_Part(_parse_headers(head), rest))
    return parts


def _parse_http(part: _Part) -> _HttpAnswer:
    head, body = _split_head(part.body)
    lines = head.decode("utf-8", "replace").splitlines()
    if not lines:
        raise BatchError("a $batch response part has no HTTP status line")
    match = _STATUS_LINE.match(lines[0].strip())
    if not match:
        raise BatchError(f"a $batch response part has a malformed status line: {lines[0][:80]!r}")
    headers = _parse_headers("\n".join(lines[1:]).encode())
    return _HttpAnswer(
        status=int(match.group(1)),
        headers=headers,
        body=body,
        content_id=header_value(part.headers, "Content-ID") or header_value(headers, "Content-ID"),
    )


def _answers(content_type: str, body: bytes) -> list[_HttpAnswer | list[_HttpAnswer]]:
    answers: list[_HttpAnswer | list[_HttpAnswer]] = []
    for part in _split_multipart(body, _boundary_of(content_type)):
        part_type = header_value(part.headers, "Content-Type") or ""
        if part_type.lower().startswith("multipart/"):
            inner = _split_multipart(part.body, _boundary_of(part_type))
            answers.append([_parse_http(p) for p in inner])
        else:
            answers.append(_parse_http(part))
    return answers


def decode_batch_response(
    operations: Sequence[BatchOperation],
    content_type: str,
    body: bytes,
    *,
    status: int = 200,
) -> BatchResult:
    """Match a ``$batch`` response to the operations that were sent.

    Responses come in request order; changeset responses are matched by ``Content-ID`` (or
    position).  A changeset answered with a single error marks all its operations with that
    error (the changeset was rolled back).  Operations without an answer are "not executed".
    """
    answers = _answers(content_type, body)
    results: list[OperationResult] = []
    pos = 0
    index = 0
    while index < len(operations):
        op = operations[index]
        answer = answers[pos] if pos < len(answers) else None
        if op.changeset is None:
            if isinstance(answer, _HttpAnswer):
                results.append(
                    OperationResult(index, op, answer.status, answer.headers, answer.body)
                )
                pos += 1
            elif answer is None:
                results.append(OperationResult(index, op, 0, {}, b"", executed=False))
            else:
                raise BatchError(
                    f"the $batch response has a changeset where operation {index} "
                    f"({op.method}) was expected"
                )
            index += 1
            continue
        group_end = index
        while group_end < len(operations) and operations[group_end].changeset == op.changeset:
            group_end += 1
        group = list(enumerate(operations[index:group_end], start=index))
        if answer is None:
            results.extend(OperationResult(i, o, 0, {}, b"", executed=False) for i, o in group)
        else:
            inner = answer if isinstance(answer, list) else [answer]
            failed = [a for a in inner if not 200 <= a.status < 300]
            if failed and len(inner) < len(group):
                err = failed[0]
                results.extend(
                    OperationResult(i, o, err.status, err.headers, err.body) for i, o in group
                )
            else:
                by_id = {a.content_id: a for a in inner if a.content_id}
                for offset, (i, o) in enumerate(group):
                    got = by_id.get(o.content_id) if o.content_id else None
                    if got is None and offset < len(inner):
                        got = inner[offset]
                    if got is None:
                        results.append(OperationResult(i, o, 0, {}, b"", executed=False))
                    else:
                        results.append(OperationResult(i, o, got.status, got.headers, got.body))
            pos += 1
        index = group_end
    return BatchResult(results, status=status)
