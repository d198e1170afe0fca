"""Client-side ``$batch``: build a batch, encode it as ``multipart/mixed``, decode the answer.

A :class:`BatchRequest` collects up to 1,000 operations (Dataverse's limit), either as
independent parts or grouped in atomic :class:`ChangeSet` s whose operations get ``Content-ID``
values that later operations of the same changeset can reference as ``$n``.  ``execute()`` sends
it with one ``POST $batch`` through the :class:`~d365leads.http.pipeline.ApiSession` (so auth,
retry and throttling apply to the batch as a whole) and returns one :class:`OperationResult` per
operation, in the order they were added.

By default the batch asks for ``Prefer: odata.continue-on-error`` so that one bad record does not
stop the others; without it Dataverse stops at the first failure, answers 400 with that failure
only, and :meth:`BatchRequest.execute` raises :class:`~d365leads.errors.BatchError`.

Wire format: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import json
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote, urlencode

from d365leads import _wire
from d365leads.errors import (
    BadRequestError,
    BatchError,
    HTTPError,
    InvalidInputError,
    error_from_response,
)
from d365leads.http.pipeline import _PATH_SAFE  # one definition of what a path leaves as is

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = [
    "BatchOperation",
    "BatchRequest",
    "BatchResult",
    "ChangeSet",
    "EncodedBatch",
    "OperationResult",
    "decode_batch_response",
    "encode_batch",
]

_CRLF = b"\r\n"
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_STATUS_LINE = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})(?:\s+(.*))?$")
_BOUNDARY_PARAM = re.compile(r'boundary\s*=\s*"?([^";,\s]+)"?', re.IGNORECASE)
_ENTITY_ID = re.compile(
    r"\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)"
)


@dataclass(frozen=True)
class BatchOperation:
    """One request inside a ``$batch``.

    ``url`` is absolute, or a ``$n`` reference (optionally followed by a path) to an entity
    created earlier in the same changeset.  ``body`` is JSON-serialisable or ``None``.
    """

    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_id: str | None = None
    changeset: int | None = None

    def __repr__(self) -> str:
        cid = f", content_id={self.content_id!r}" if self.content_id else ""
        return f"BatchOperation({self.method} {self.url}{cid})"


@dataclass(frozen=True)
class OperationResult:
    """The answer to one :class:`BatchOperation`.

    ``executed`` is False when Dataverse returned no response for the operation (it stopped at
    an earlier failure, or the answer was cut short); ``status`` is then 0.  For a failed
    changeset every operation of the changeset carries the changeset's error.
    """

    index: int
    operation: BatchOperation
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    executed: bool = True

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.executed and 200 <= self.status < 300

    @property
    def content_id(self) -> str | None:
        """The ``Content-ID`` of the operation (changeset operations only)."""
        return self.operation.content_id

    def header(self, name: str) -> str | None:
        """Return a response header, matched case-insensitively."""
        return _header(self.headers, name)

    def json(self) -> Any:
        """The response body parsed as JSON (``None`` when empty)."""
        if not self.body.strip():
            return None
        return json.loads(self.body.decode("utf-8"))

    @property
    def entity_id(self) -> str | None:
        """The GUID from ``OData-EntityId`` (or ``Location``), for creates and upserts."""
        value = self.header(_wire.HEADER_ENTITY_ID) or self.header("Location")
        if not value:
            return None
        found = _ENTITY_ID.findall(value)
        return found[-1].lower() if found else None

    @property
    def error(self) -> HTTPError | None:
        """The Dataverse error of a failed operation, as the matching :class:`HTTPError`."""
        if self.ok or not self.executed:
            return None
        return error_from_response(
            self.status,
            dict(self.headers),
            self.body,
            method=self.operation.method,
            url=self.operation.url,
        )

    def __repr__(self) -> str:
        state = str(self.status) if self.executed else "not executed"
        return f"OperationResult(#{self.index} {self.operation.method} {state})"


class BatchResult(Sequence[OperationResult]):
    """Per-operation results of a ``$batch``, in the order the operations were added."""

    def __init__(self, results: Sequence[OperationResult], *, status: int = 200) -> None:
        self._results = list(results)
        self.status = status

    def __getitem__(self, index: int) -> OperationResult:  # type: ignore[override]
        return self._results[index]

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[OperationResult]:
        return iter(self._results)

    @property
    def ok(self) -> bool:
        """True when every operation succeeded."""
        return all(result.ok for result in self._results)

    @property
    def failed(self) -> list[OperationResult]:
        """The operations that were executed and failed."""
        return [r for r in self._results if r.executed and not r.ok]

    @property
    def not_executed(self) -> list[OperationResult]:
        """The operations Dataverse did not run (it stopped at an earlier failure)."""
        return [r for r in self._results if not r.executed]

    def raise_for_errors(self) -> None:
        """Raise :class:`BatchError` (with every result) if any operation failed or was skipped."""
        if self.ok:
            return
        bad = self.failed
        first = bad[0].error if bad else None
        detail = f"; first error: {first}" if first else ""
        raise BatchError(
            f"{len(bad)} of {len(self)} batch operations failed and "
            f"{len(self.not_executed)} were not executed{detail}",
            list(self._results),
        )

    def __repr__(self) -> str:
        return f"BatchResult({len(self)} operations, {len(self.failed)} failed)"


@dataclass(frozen=True)
class EncodedBatch:
    """A batch ready to send: the ``Content-Type`` header (with boundary) and the body."""

    content_type: str
    body: bytes
    boundary: str


_T = TypeVar("_T")


class _Writes(ABC, Generic[_T]):
    """``post``/``patch``/``delete`` on top of ``add``, shared by batches and changesets."""

    @abstractmethod
    def add(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> _T:
        """Add one operation; what it returns depends on the subclass."""

    def post(self, path: str, json: Any = None, *, headers: Mapping[str, str] | None = None) -> _T:
        """Add a POST: a create, or a bound action such as QualifyLead."""
        return self.add("POST", path, json, headers=headers)

    def patch(
        self,
        path: str,
        json: Any,
        *,
        if_match: str | None = "*",
        headers: Mapping[str, str] | None = None,
    ) -> _T:
        """Add a PATCH; ``If-Match: *`` by default so a missing record fails, never gets created."""
        return self.add("PATCH", path, json, headers=_with_if_match(headers, if_match))

    def delete(self, path: str, *, headers: Mapping[str, str] | None = None) -> _T:
        """Add a DELETE."""
        return self.add("DELETE", path, headers=headers)


class ChangeSet(_Writes[str]):
    """Operations that Dataverse applies atomically; obtained from :meth:`BatchRequest.changeset`.

    Each method returns the ``$n`` reference of the new operation, usable in the URL or an
    ``@odata.bind`` of a later operation of the same changeset.
    """

    def __init__(self, batch: BatchRequest, number: int) -> None:
        self._batch = batch
        self.number = number

    def __enter__(self) -> ChangeSet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        """Add an operation; return its ``$n`` reference."""
        if method.upper() == "GET":
            raise InvalidInputError(
                "GET is not allowed inside a changeset; add it to the batch outside the changeset"
            )
        op = self._batch._add(method, path, json, headers, params, changeset=self.number)
        return f"${op.content_id}"


class BatchRequest(_Writes[BatchOperation]):
    """A ``$batch`` being built; see the module docstring.

    ``session`` sends it (``client.batch()`` passes the client's session); a batch without a
    session can still be encoded, given ``base_url``.
    """

    def __init__(
        self,
        session: ApiSession | None = None,
        *,
        base_url: str | None = None,
        continue_on_error: bool = True,
        max_operations: int = _wire.MAX_BATCH_OPERATIONS,
    ) -> None:
        if session is None and base_url is None:
            raise InvalidInputError("a BatchRequest needs a session or a base_url")
        if not 1 <= max_operations <= _wire.MAX_BATCH_OPERATIONS:
            raise InvalidInputError(
                f"max_operations must be between 1 and {_wire.MAX_BATCH_OPERATIONS}, "
                f"got {max_operations}"
            )
        self._session = session
        url = base_url if base_url is not None else session.base_url  # type: ignore[union-attr]
        self.base_url = url if url.endswith("/") else url + "/"
        self.continue_on_error = continue_on_error
        self.max_operations = max_operations
        self._operations: list[BatchOperation] = []
        self._changesets = 0
        self._content_ids = 0

    def __len__(self) -> int:
        return len(self._operations)

    def __repr__(self) -> str:
        return f"BatchRequest({len(self)} operations, {self._changesets} changesets)"

    @property
    def operations(self) -> list[BatchOperation]:
        """The operations added so far, in order."""
        return list(self._operations)

    def _resolve(self, path: str, params: Mapping[str, str] | None) -> str:
        if path.startswith(("$", "http://", "https://")):
            url = path
        else:
            # Paths are passed unencoded, as to ApiSession.request: encode them the same way, so
            # an alternate-key value with '#', '%' or a space stays one literal in the line.
            url = self.base_url + quote(path.lstrip("/"), safe=_PATH_SAFE)
        if params:
            query = urlencode(dict(params), quote_via=quote, safe="$',()=@:")
            url += ("&" if "?" in url else "?") + query
        return url

    def _add(
        self,
        method: str,
        path: str,
        body: Any,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        *,
        changeset: int | None,
    ) -> BatchOperation:
        verb = method.upper()
        if verb not in _METHODS:
            raise InvalidInputError(
                f"unsupported method {method!r} in a batch; use one of {sorted(_METHODS)}"
            )
        if len(self._operations) >= self.max_operations:
            raise InvalidInputError(
                f"a batch holds at most {self.max_operations} operations; start another batch"
            )
        if path.startswith("$") and changeset is None:
            raise InvalidInputError(
                f"the reference {path!r} can only be used inside the changeset that created it"
            )
        content_id: str | None = None
        if changeset is not None:
            self._content_ids += 1
            content_id = str(self._content_ids)
        op = BatchOperation(
            method=verb,
            url=self._resolve(path, params),
            body=body,
            headers=dict(headers or {}),
            content_id=content_id,
            changeset=changeset,
        )
        self._operations.append(op)
        return op

    def add(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> BatchOperation:
        """Add an independent operation; ``path`` is relative to the Web API base or absolute."""
        return self._add(method, path, json, headers, params, changeset=None)

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> BatchOperation:
        """Add a GET (never inside a changeset)."""
        return self.add("GET", path, headers=headers, params=params)

    def changeset(self) -> ChangeSet:
        """Start an atomic changeset; use it as a context manager or keep the object."""
        self._changesets += 1
        return ChangeSet(self, self._changesets)

    def encode(self, *, boundary: str | None = None) -> EncodedBatch:
        """Encode the batch as ``multipart/mixed`` (see :func:`encode_batch`)."""
        return encode_batch(self._operations, boundary=boundary)

    def execute(self, *, idempotent: bool | None = None, retry: bool = True) -> BatchResult:
        """Send the batch and return its per-operation results.

        ``idempotent`` tells the retry policy whether the whole batch may be re-sent after a
        5xx or a lost connection (a batch of state PATCHes may; one with QualifyLead may not).
        By default it is True only when every operation is a GET, PATCH, PUT or DELETE.
        Raises :class:`BatchError` when the batch is empty, when the answer cannot be decoded,
        or when a batch without continue-on-error stopped at a failing operation; and the
        session's :class:`HTTPError`/:class:`TransportError` for whole-batch failures.
        """
        if self._session is None:
            raise BatchError("this BatchRequest has no session; use client.batch() to send it")
        if not self._operations:
            raise BatchError("the batch is empty; add operations before executing it")
        if idempotent is None:
            idempotent = all(op.method != "POST" for op in self._operations)
        encoded = self.encode()
        prefer = [_wire.PREFER_CONTINUE_ON_ERROR] if self.continue_on_error else []
        try:
            response = self._session.request(
                "POST",
                "$batch",
                content=encoded.body,
                headers={"Content-Type": encoded.content_type},
                prefer=prefer,
                idempotent=idempotent,
                retry=retry,
            )
        except BadRequestError as exc:
            if self.continue_on_error:
                raise
            # Dataverse stopped at a failing operation and answered 400 with that operation's
            # error only: the operations before it were applied, the ones after it were not,
            # and the answer does not say which one failed.
            code, message = _inner_error(exc)
            raise BatchError(
                f"the batch stopped at a failing operation ({code}: {message}); "
                "the operations before it were applied and those after "
                "it were not. Use continue_on_error=True (one result per operation) or a "
                "changeset (all or nothing) to know each outcome",
                [],
            ) from exc
        content_type = response.headers.get("Content-Type") or ""
        return decode_batch_response(
            self._operations, content_type, response.content, status=response.status
        )


_INNER_CODE = re.compile(r'"code"\s*:\s*"([^"]*)"')
_INNER_MESSAGE = re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _inner_error(exc: HTTPError) -> tuple[str, str]:
    """The failing operation's code and message from a stopped batch's 400 answer."""
    if exc.code:
        return exc.code, exc.message[:300]
    code = _INNER_CODE.search(exc.message)
    message = _INNER_MESSAGE.search(exc.message)
    return (
        code.group(1) if code and code.group(1) else str(exc.status),
        message.group(1)[:300] if message else exc.message[:300],
    )


def _with_if_match(headers: Mapping[str, str] | None, if_match: str | None) -> dict[str, str]:
    merged = dict(headers or {})
    if if_match is not None and _header(merged, "If-Match") is None:
        merged["If-Match"] = if_match
    return merged


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


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
        if _header(headers, "Content-Type") is None:
            headers["Content-Type"] = "application/json; type=entry"
    if _header(headers, "Accept") is None:
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
        content_id=_header(part.headers, "Content-ID") or _header(headers, "Content-ID"),
    )


def _answers(content_type: str, body: bytes) -> list[_HttpAnswer | list[_HttpAnswer]]:
    answers: list[_HttpAnswer | list[_HttpAnswer]] = []
    for part in _split_multipart(body, _boundary_of(content_type)):
        part_type = _header(part.headers, "Content-Type") or ""
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
