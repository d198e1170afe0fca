"""Encoding a ``$batch`` request as ``multipart/mixed``.

Wire format: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from d365leads import _wire
from d365leads.batch.operations import BatchOperation, header_value
from d365leads.errors import InvalidInputError

__all__ = ["EncodedBatch", "encode_batch"]

_CRLF = b"\r\n"


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
