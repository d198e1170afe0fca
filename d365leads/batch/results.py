"""The answers of a sent ``$batch``: one :class:`OperationResult` per operation, in order."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from d365leads import _wire
from d365leads.batch.operations import BatchOperation, header_value
from d365leads.errors import BatchError, HTTPError, error_from_response

__all__ = ["BatchResult", "OperationResult"]

_ENTITY_ID = re.compile(
    r"\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)"
)


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
        return header_value(self.headers, name)

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
