"""``POST $batch``: run the operations of a parsed batch against the router.

Each operation is dispatched straight to the router (not through the outer middleware again)
and counted on the request's operation meter (:mod:`~d365leads.fake.core.metering`) so service
protection charges its execution time.  Changesets are atomic: the store is snapshotted before
and restored on the first failure.  The codec is :mod:`~d365leads.fake.wire.batch_codec`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..core.fault import FakeFault, bad_request
from ..core.metering import note_operation
from ..wire.batch_codec import (
    BatchFormatError,
    BatchItem,
    BatchOperation,
    ChangeSet,
    ItemResponse,
    PartResponse,
    content_id_missing,
    encode_batch_response,
    parse_batch,
)
from ..wire.errors import fault_response
from ..wire.json_reader import read_json
from ..wire.messages import FakeRequest, FakeResponse, Handler, header_value, service_root

__all__ = ["BatchProcessor", "SupportsSnapshot"]

# Headers of the outer $batch request that every operation inherits (the caller's identity).
_INHERITED_HEADERS = ("authorization", "callerobjectid", "mscrmcallerid")
_REFERENCE = re.compile(r"^\$(\d+)(?=$|/)")
_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class SupportsSnapshot(Protocol):
    """What the executor needs from the store: an atomic snapshot and restore."""

    def snapshot(self) -> Any: ...

    def restore(self, snapshot: Any) -> None: ...


_JSON_MINIMAL = "application/json; odata.metadata=minimal"


def _count(items: list[BatchItem]) -> int:
    return sum(len(item.operations) if isinstance(item, ChangeSet) else 1 for item in items)


def _walk_references(value: Any, resolve: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if (key.endswith("@odata.bind") or key == "@odata.id") and isinstance(item, str):
                result[key] = resolve(item)
            elif isinstance(key, str) and key.endswith("@odata.bind") and isinstance(item, list):
                result[key] = [resolve(x) if isinstance(x, str) else x for x in item]
            else:
                result[key] = _walk_references(item, resolve)
        return result
    if isinstance(value, list):
        return [_walk_references(item, resolve) for item in value]
    return value


class BatchProcessor:
    """Runs a ``$batch`` request against ``dispatch`` (the fake's router).

    ``store`` gives changesets their atomicity (``snapshot()`` before, ``restore()`` on the first
    failure); ``lock`` (the store's lock, when given) is held for a whole changeset so no other
    request interleaves with it.  ``max_operations`` is the per-batch limit and
    ``changeset_failure`` the shape of a failed changeset in the answer (``single_error``: one
    error part for the whole changeset; ``per_operation``: the failing part only, after the parts
    that had succeeded before the rollback — both UNCONFIRMED, see SUPPORTED.md).
    """

    def __init__(
        self,
        dispatch: Handler,
        store: SupportsSnapshot,
        *,
        lock: AbstractContextManager[Any] | None = None,
        max_operations: int = 1000,
        changeset_failure: str = "single_error",
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self._dispatch = dispatch
        self._store = store
        self._lock = lock
        self.max_operations = max_operations
        self.changeset_failure = changeset_failure
        self._new_id = new_id

    def __call__(self, request: FakeRequest) -> FakeResponse:
        """Handle ``POST $batch``; format errors come back as a plain 400 error response."""
        try:
            return self._handle(request)
        except FakeFault as fault:
            return fault_response(fault)

    def _handle(self, request: FakeRequest) -> FakeResponse:
        if request.method != "POST":
            raise FakeFault(
                405, "0x80060888", f"The HTTP method '{request.method}' is not allowed for $batch."
            )
        items = parse_batch(request.body, request.header("Content-Type"))
        total = _count(items)
        if total > self.max_operations:
            raise bad_request(
                f"The number of requests in the batch ({total}) exceeds the limit of "
                f"{self.max_operations}. Split the operations into several $batch requests."
            )
        if total == 0:
            raise BatchFormatError("The $batch request contains no operation.")
        continue_on_error = "odata.continue-on-error" in request.prefer()
        root = service_root(request)
        answers: list[ItemResponse] = []
        failed = False
        for item in items:
            parts: ItemResponse
            if isinstance(item, ChangeSet):
                parts, ok = self._run_changeset(request, item, root)
            else:
                parts = self._run(request, item, root, {})
                ok = parts.status < 400
            if ok:
                answers.append(parts)
                continue
            failed = True
            if not continue_on_error:
                answers = [parts]
                break
            answers.append(parts)
        content_type, body = encode_batch_response(answers, self._new_id)
        headers = {"Content-Type": content_type, "OData-Version": "4.0"}
        if continue_on_error:
            headers["Preference-Applied"] = "odata.continue-on-error"
        status = 400 if failed and not continue_on_error else 200
        return FakeResponse(status, headers, body)

    def _run_changeset(
        self, request: FakeRequest, changeset: ChangeSet, root: str
    ) -> tuple[list[PartResponse], bool]:
        guard = self._lock if self._lock is not None else nullcontext()
        with guard:
            snapshot = self._store.snapshot()
            references: dict[str, str] = {}
            done: list[PartResponse] = []
            for operation in changeset.operations:
                part = self._run(request, operation, root, references)
                if part.status >= 400:
                    self._store.restore(snapshot)
                    if self.changeset_failure == "per_operation":
                        return [*done, part], False
                    return [part], False
                done.append(part)
                if operation.content_id is not None:
                    location = header_value(part.headers, "OData-EntityId") or header_value(
                        part.headers, "Location"
                    )
                    if location:
                        references[operation.content_id] = location
            return done, True

    def _run(
        self,
        outer: FakeRequest,
        operation: BatchOperation,
        root: str,
        references: dict[str, str],
    ) -> PartResponse:
        note_operation()
        try:
            inner = self._inner_request(outer, operation, root, references)
            response = self._dispatch(inner)
        except FakeFault as fault:
            response = fault_response(fault)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        # The batch page shows Location beside OData-EntityId on the 204 of a create and of an
        # update, and GET answers as "application/json; odata.metadata=minimal;
        # odata.streaming=true" (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api).
        if operation.method in ("POST", "PATCH") and response.status == 204:
            entity = header_value(headers, "OData-EntityId")
            if entity and header_value(headers, "Location") is None:
                headers["Location"] = entity
        if response.status >= 400 and header_value(headers, "REQ_ID") is None:
            # A failed part names the request id the service logged it under, as the batch page
            # prints it ("Handling errors"); successful parts carry none.
            headers = {"REQ_ID": self._request_id(), **headers}
        if operation.method == "GET" and response.status == 200:
            for name, value in list(headers.items()):
                if name.lower() == "content-type" and value == _JSON_MINIMAL:
                    headers[name] = f"{_JSON_MINIMAL}; odata.streaming=true"
        return PartResponse(response.status, headers, response.body, operation.content_id)

    def _request_id(self) -> str:
        return self._new_id() if self._new_id is not None else str(uuid.uuid4())

    def _inner_request(
        self,
        outer: FakeRequest,
        operation: BatchOperation,
        root: str,
        references: dict[str, str],
    ) -> FakeRequest:
        def absolute(reference: str) -> str:
            match = _REFERENCE.match(reference)
            if match is None:
                return reference
            target = references.get(match.group(1))
            if target is None:
                raise content_id_missing(match.group(0))
            return target + reference[match.end() :]

        def for_body(reference: str) -> str:
            resolved = absolute(reference)
            if resolved is reference:
                return reference
            # Bind values are written relative to the service root ("/accounts(<id>)").
            return "/" + resolved[len(root) :] if resolved.startswith(root) else resolved

        url = absolute(operation.url)
        if url.startswith("$"):
            raise content_id_missing(url.split("/")[0])
        url = self._absolute_url(url, outer, root)
        if urlsplit(url).path.rstrip("/").endswith("/$batch"):
            raise BatchFormatError("A $batch request cannot contain another $batch request.")
        body = operation.body
        if body.strip() and operation.method in _WRITE_METHODS and b"$" in body:
            try:
                text = body.decode("utf-8")
                payload = read_json(text) if outer.json_reader == "odatalib" else json.loads(text)
            except ValueError:  # includes UnicodeDecodeError; the router reports bad JSON
                payload = None
            if payload is not None:
                body = json.dumps(_walk_references(payload, for_body)).encode("utf-8")
        headers = {
            key: value for key, value in outer.headers.items() if key.lower() in _INHERITED_HEADERS
        }
        headers.update(operation.headers)
        return FakeRequest(operation.method, url, headers, body, outer.timeout)

    @staticmethod
    def _absolute_url(url: str, outer: FakeRequest, root: str) -> str:
        if "://" in url:
            return url
        parts = urlsplit(outer.url)
        if url.startswith("/"):
            return f"{parts.scheme}://{parts.netloc}{url}"
        return root + url
