"""What a bulk write reports: one :class:`RecordOutcome` per input record, in input order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["ManyResult", "Path", "RecordOutcome"]

Path = Literal["CreateMultiple", "UpdateMultiple", "UpsertMultiple", "$batch"]
"""How a record was sent: in a bulk operation message, or as one operation of a ``$batch``."""


@dataclass(frozen=True)
class RecordOutcome:
    """The outcome of one input record.

    ``index`` is its position in the input; ``id`` the record id (known for updates, read from
    the answer for creates and upserts; ``None`` when it failed before one was known); ``path``
    the request kind that wrote it (or last tried to); ``status``, ``error_code`` and ``message``
    the HTTP status and Dataverse error of a failure.
    """

    index: int
    id: str | None
    ok: bool
    path: Path
    status: int = 0
    error_code: str = ""
    message: str = ""


class ManyResult(Sequence[RecordOutcome]):
    """Every record's outcome, in input order, and how many requests of each kind were sent."""

    def __init__(self, outcomes: Sequence[RecordOutcome], requests: Counter[str]) -> None:
        self._outcomes = sorted(outcomes, key=lambda o: o.index)
        self.requests: Counter[str] = requests
        """Requests sent, by kind (``UpdateMultiple``, ``$batch``, ``probe``)."""

    def __getitem__(self, index: int) -> RecordOutcome:  # type: ignore[override]
        return self._outcomes[index]

    def __len__(self) -> int:
        return len(self._outcomes)

    def __iter__(self) -> Iterator[RecordOutcome]:
        return iter(self._outcomes)

    @property
    def ok(self) -> bool:
        """True when every record was written."""
        return all(o.ok for o in self._outcomes)

    @property
    def failed(self) -> list[RecordOutcome]:
        """The outcomes of the records that were not written."""
        return [o for o in self._outcomes if not o.ok]

    @property
    def ids(self) -> list[str | None]:
        """The record ids in input order (``None`` for a failure without one)."""
        return [o.id for o in self._outcomes]

    @property
    def paths(self) -> Counter[str]:
        """How many records each path wrote (or last tried to write)."""
        return Counter(o.path for o in self._outcomes)

    def __repr__(self) -> str:
        return (
            f"ManyResult(records={len(self)}, failed={len(self.failed)}, "
            f"requests={dict(self.requests)})"
        )
