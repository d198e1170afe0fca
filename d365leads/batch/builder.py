"""Building a ``$batch``: :class:`BatchRequest`, its atomic :class:`ChangeSet` s, and sending it."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote, urlencode

from d365leads import _wire
from d365leads.batch.decoder import decode_batch_response
from d365leads.batch.encoder import EncodedBatch, encode_batch
from d365leads.batch.operations import BatchOperation, header_value
from d365leads.batch.results import BatchResult
from d365leads.errors import (
    BadRequestError,
    BatchError,
    HTTPError,
    InvalidInputError,
    MalformedBatchResponseError,
)
from d365leads.http.pipeline import _PATH_SAFE  # one definition of what a path leaves as is

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["BatchRequest", "ChangeSet"]

_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


_T = TypeVar("_T")


class _Writes(ABC, Generic[_T]):
    """``add`` and ``post``/``patch``/``delete`` on top of it, shared by batches and changesets.

    Both add to one :class:`BatchRequest` (``_batch``); a changeset's operations carry its
    number (``_changeset``). What ``add`` returns depends on the subclass (:meth:`_handle`).
    """

    _batch: BatchRequest
    _changeset: int | None

    def add(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> _T:
        """Add an operation; ``path`` is relative to the Web API base or absolute.

        A batch returns the :class:`BatchOperation`; a changeset the operation's ``$n``
        reference, usable in the URL or an ``@odata.bind`` of a later operation of it.
        """
        op = self._batch._add(method, path, json, headers, params, changeset=self._changeset)
        return self._handle(op)

    @abstractmethod
    def _handle(self, op: BatchOperation) -> _T:
        """What :meth:`add` returns for the operation just added."""

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
        self._changeset = number
        self.number = number

    def __enter__(self) -> ChangeSet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _handle(self, op: BatchOperation) -> str:
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
        self._batch = self
        self._changeset = None
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
        if verb == "GET" and changeset is not None:
            raise InvalidInputError(
                "GET is not allowed inside a changeset; add it to the batch outside the changeset"
            )
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

    def _handle(self, op: BatchOperation) -> BatchOperation:
        return op

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
        or when a batch without continue-on-error stopped at a failing operation (its
        ``results`` then say what ran, when the answer tells); its subclass
        :class:`MalformedBatchResponseError` when the answer was cut short or has the wrong
        number of parts (``results`` has what did arrive, ``unanswered`` the rest); and the
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
            raise self._stopped(exc) from exc
        content_type = response.headers.get("Content-Type") or ""
        return decode_batch_response(
            self._operations,
            content_type,
            response.content,
            status=response.status,
            continue_on_error=self.continue_on_error,
        )

    def _stopped(self, exc: HTTPError) -> BatchError:
        """The error for a batch that Dataverse stopped at a failing operation (a 400).

        The 400's body is the batch answer: each operation it answers gets its result, the
        ones after the failure are not executed. When it cannot tell which operation failed,
        or is no batch answer at all, the error says what is known.
        """
        content_type = exc.content_type or ""
        if exc.body and content_type.lower().startswith("multipart/"):
            try:
                result = decode_batch_response(
                    self._operations, content_type, exc.body, status=exc.status
                )
            except MalformedBatchResponseError as malformed:
                if not exc.body_truncated:
                    return malformed
                return MalformedBatchResponseError(
                    f"{malformed} (the error body was longer than the 1 MiB an HTTPError keeps)",
                    malformed.results,
                    unanswered=malformed.unanswered,
                )
            except BatchError as unclear:
                return unclear
            failed = result.failed
            if not failed:
                return BatchError(
                    f"the batch was answered HTTP {exc.status}, yet none of its operations failed",
                    list(result),
                )
            first = failed[0]
            error = first.error
            what = f"{error.code or error.status}: {error.message[:300]}" if error else "?"
            return BatchError(
                f"the batch stopped at a failing operation ({what}): operation #{first.index} "
                f"({first.operation.method}) failed, the {first.index} before it were applied "
                f"and the {len(result.not_executed)} after it were not executed",
                list(result),
            )
        # No batch answer: Dataverse refused the batch as a whole, or answered with the failing
        # operation's error alone, which does not say which one failed.
        code, message = _inner_error(exc)
        return BatchError(
            f"the batch stopped at a failing operation ({code}: {message}); "
            "the operations before it were applied and those after "
            "it were not. Use continue_on_error=True (one result per operation) or a "
            "changeset (all or nothing) to know each outcome",
            [],
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
    if if_match is not None and header_value(merged, "If-Match") is None:
        merged["If-Match"] = if_match
    return merged
