"""Decoding the ``multipart/mixed`` answer of a ``$batch`` and matching it to what was sent.

An answer is trusted only as a whole. Cut short (no closing delimiter), or holding more or
fewer parts than operations were sent, it raises
:class:`~d365leads.errors.MalformedBatchResponseError` naming the operations without an answer,
rather than handing back partial results that look complete.

Wire format: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from d365leads.batch.operations import BatchOperation, header_value
from d365leads.batch.results import BatchResult, OperationResult
from d365leads.errors import BatchError, MalformedBatchResponseError, error_from_response

__all__ = ["decode_batch_response", "describe_indexes"]

_STATUS_LINE = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})(?:\s+(.*))?$")
_BOUNDARY_PARAM = re.compile(r'boundary\s*=\s*"?([^";,\s]+)"?', re.IGNORECASE)
_ASCII_DIGITS = "0123456789"
#: The protocol names a status line most often starts with, read without the regex.
_VERSIONS = frozenset(
    [f"HTTP/{major}" for major in _ASCII_DIGITS]
    + [f"HTTP/{major}.{minor}" for major in _ASCII_DIGITS for minor in _ASCII_DIGITS]
)


# Named tuples: one of each is built per answered operation, and a tuple is the cheapest object
# to build that still reads by name.
class _Part(NamedTuple):
    headers: dict[str, str]
    body: bytes


class _HttpAnswer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes
    content_id: str | None


# One answer per top-level item: an operation's, a changeset's (its parts), or None when the
# item's answer cannot be trusted (a changeset answer that was itself cut short).
_Answer = _HttpAnswer | list[_HttpAnswer] | None


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


def _header_lines(lines: list[str]) -> dict[str, str]:
    # A line without a colon (blank, or garbage) carries no header.
    headers: dict[str, str] = {}
    for raw in lines:
        name, sep, value = raw.partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    return headers


def _parse_headers(block: bytes) -> dict[str, str]:
    return _header_lines(block.decode("utf-8", "replace").splitlines())


def _split_multipart(body: bytes, boundary: str) -> tuple[list[_Part], bool]:
    """The parts of a multipart body, and whether its closing delimiter was there.

    Without the closing delimiter the part after the last delimiter may itself be cut (a status
    line without its headers, half a body), so it is dropped: its outcome is unknown.
    """
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)
    parts: list[_Part] = []
    # Every part of a batch answer starts with the same few headers ("Content-Type:
    # application/http" and its encoding): each distinct block is parsed once. The parsed
    # dict is shared between parts, and only read (its Content-Type and Content-ID).
    parsed: dict[bytes, dict[str, str]] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts, True
        # The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, rest = _split_head(chunk)
        headers = parsed.get(head)
        if headers is None:
            headers = parsed[head] = _parse_headers(head)
        parts.append(_Part(headers, rest))
    return parts[:-1], False


def _status_of(line: str) -> int | None:
    """The status code of an HTTP status line, ``None`` when it is not one."""
    # The common form ("HTTP/1.1 204 No Content") is read with str methods; anything else
    # (tabs, several spaces, other digits, a line break) is left to the regex, which has the
    # last word.
    version, _, rest = line.partition(" ")
    code = rest[:3]
    if (
        version in _VERSIONS
        and len(code) == 3
        and code.isascii()
        and code.isdigit()
        and (len(rest) == 3 or rest[3].isspace())
        and "\n" not in rest
    ):
        return int(code)
    match = _STATUS_LINE.match(line)
    return int(match.group(1)) if match else None


def _parse_http(part: _Part) -> _HttpAnswer:
    head, body = _split_head(part.body)
    lines = head.decode("utf-8", "replace").splitlines()
    if not lines:
        raise BatchError("a $batch response part has no HTTP status line")
    status = _status_of(lines[0].strip())
    if status is None:
        raise BatchError(f"a $batch response part has a malformed status line: {lines[0][:80]!r}")
    del lines[0]
    headers = _header_lines(lines)
    return _HttpAnswer(
        status,
        headers,
        body,
        header_value(part.headers, "Content-ID") or header_value(headers, "Content-ID"),
    )


def _answers(content_type: str, body: bytes) -> tuple[list[_Answer], bool]:
    """The answers of the top-level items, and whether the answer arrived whole."""
    answers: list[_Answer] = []
    parts, closed = _split_multipart(body, _boundary_of(content_type))
    for part in parts:
        part_type = header_value(part.headers, "Content-Type") or ""
        if part_type.lower().startswith("multipart/"):
            inner, inner_closed = _split_multipart(part.body, _boundary_of(part_type))
            answers.append([_parse_http(p) for p in inner] if inner_closed else None)
            closed = closed and inner_closed
        else:
            answers.append(_parse_http(part))
    return answers, closed


def _items(operations: Sequence[BatchOperation]) -> list[range]:
    """The top-level items sent, as ranges of operation indexes (a changeset is one item)."""
    items: list[range] = []
    index = 0
    while index < len(operations):
        end = index + 1
        number = operations[index].changeset
        if number is not None:
            while end < len(operations) and operations[end].changeset == number:
                end += 1
        items.append(range(index, end))
        index = end
    return items


def _failed(answer: _Answer) -> bool:
    if isinstance(answer, list):
        return any(not 200 <= a.status < 300 for a in answer)
    return answer is not None and not 200 <= answer.status < 300


def _results_of(
    operations: Sequence[BatchOperation], item: range, answer: _Answer
) -> list[OperationResult]:
    """The results of one item's operations, given its answer (``None``: no answer)."""
    if isinstance(answer, _HttpAnswer) and len(item) == 1:
        # The common item: one operation outside a changeset, answered by one part.
        op = operations[item.start]
        if op.changeset is None:
            return [OperationResult(item.start, op, answer.status, answer.headers, answer.body)]
    group = [(i, operations[i]) for i in item]
    if answer is None:
        return [OperationResult(i, op, 0, {}, b"", executed=False) for i, op in group]
    if operations[item.start].changeset is None:
        index, op = group[0]
        if isinstance(answer, list):
            raise BatchError(
                f"the $batch response has a changeset where operation {index} "
                f"({op.method}) was expected"
            )
        return [OperationResult(index, op, answer.status, answer.headers, answer.body)]
    inner = answer if isinstance(answer, list) else [answer]
    failed = [a for a in inner if not 200 <= a.status < 300]
    if failed and len(inner) < len(group):
        # The changeset was rolled back: every operation carries its error.
        err = failed[0]
        return [OperationResult(i, op, err.status, err.headers, err.body) for i, op in group]
    by_id = {a.content_id: a for a in inner if a.content_id}
    results: list[OperationResult] = []
    for offset, (i, op) in enumerate(group):
        got = by_id.get(op.content_id) if op.content_id else None
        if got is None and offset < len(inner):
            got = inner[offset]
        if got is None:
            results.append(OperationResult(i, op, 0, {}, b"", executed=False))
        else:
            results.append(OperationResult(i, op, got.status, got.headers, got.body))
    return results


def describe_indexes(indexes: Sequence[int]) -> str:
    """``#0, #3-#7`` for operation indexes ``[0, 3, 4, 5, 6, 7]``."""
    spans: list[str] = []
    start = previous = None
    for index in [*sorted(indexes), None]:
        if start is not None and previous is not None and index == previous + 1:
            previous = index
            continue
        if start is not None:
            spans.append(f"#{start}" if start == previous else f"#{start}-#{previous}")
        start = previous = index
    return ", ".join(spans)


def _error_summary(answer: _Answer) -> str:
    """``code: message`` of a failed answer, for messages."""
    parts = answer if isinstance(answer, list) else [answer] if answer is not None else []
    failed = next((a for a in parts if not 200 <= a.status < 300), None)
    if failed is None:
        return "no error given"
    error = error_from_response(failed.status, failed.headers, failed.body)
    return f"{error.code or error.status}: {error.message[:300]}"


def decode_batch_response(
    operations: Sequence[BatchOperation],
    content_type: str,
    body: bytes,
    *,
    status: int = 200,
    continue_on_error: bool = False,
) -> BatchResult:
    """Match a ``$batch`` response to the operations that were sent.

    Responses come in request order; changeset responses are matched by ``Content-ID`` (or
    position).  A changeset answered with a single error marks all its operations with that
    error (the changeset was rolled back).

    Without ``continue_on_error`` Dataverse stops at the first failure: an answer whose last
    part failed may leave the operations after it unanswered, and they are "not executed".
    When that answer holds a single part for a batch of several operations, it does not say
    which operation failed (Dataverse may answer with the failing part only), and
    :class:`~d365leads.errors.BatchError` says so.

    Raises :class:`~d365leads.errors.MalformedBatchResponseError` (with the results that could
    be matched, the others marked not executed, and ``unanswered``) for an answer without its
    closing delimiter, or with fewer parts than operations where nothing explains it; and with
    no results for an answer with more parts than were sent.
    """
    items = _items(operations)
    answers, closed = _answers(content_type, body)
    if len(answers) > len(items):
        raise MalformedBatchResponseError(
            f"the $batch answer has {len(answers)} parts for the {len(items)} operations and "
            "changesets sent, so no part can be matched to its operation; the outcome of every "
            "operation is unknown: re-read the records before sending them again"
        )
    stopped = not continue_on_error and bool(answers) and _failed(answers[-1])
    if closed and stopped and len(answers) == 1 and len(items) > 1:
        raise BatchError(
            f"the batch stopped at a failing operation ({_error_summary(answers[0])}); the "
            "answer holds that operation's error only, so which of the operations it was, and "
            "which ran before it, is unknown. Use continue_on_error=True (one result per "
            "operation) or a changeset (all or nothing) to know each outcome"
        )
    results: list[OperationResult] = []
    unanswered: list[int] = []
    for position, item in enumerate(items):
        answer = answers[position] if position < len(answers) else None
        if answer is None:
            unanswered.extend(item)
        results.extend(_results_of(operations, item, answer))
    if not closed:
        missing = (
            f"operations {describe_indexes(unanswered)} have no answer and their outcome is "
            "unknown; re-read those records before sending them again"
            if unanswered
            else "every operation has its answer, but nothing says the answer is whole"
        )
        raise MalformedBatchResponseError(
            f"the $batch answer was cut short (no closing delimiter): {missing}",
            results,
            unanswered=unanswered,
        )
    if unanswered and not stopped:
        raise MalformedBatchResponseError(
            f"the $batch answer has {len(answers)} parts for the {len(items)} operations and "
            f"changesets sent: operations {describe_indexes(unanswered)} have no answer and "
            "their outcome is unknown; re-read those records before sending them again",
            results,
            unanswered=unanswered,
        )
    return BatchResult(results, status=status)
