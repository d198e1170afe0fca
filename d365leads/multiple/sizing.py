"""The size of the next bulk request, adapted as the bulk jobs adapt their ``$batch`` sizes.

A request that was throttled (429) or that failed by timing out halves the size (not below
``low``); three calm requests in a row grow it by half (not above ``high``, at most 1,000, the
bulk messages' limit).  Microsoft advises starting at 1,000 records on standard tables without
plug-ins and making the size configurable so it can come down
(https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations#optimal-batch-size).
"""

from __future__ import annotations

from d365leads.errors import InvalidInputError

__all__ = ["MAX_TARGETS", "ChunkSizer"]

MAX_TARGETS = 1000
"""Most records Dataverse accepts in one CreateMultiple/UpdateMultiple/UpsertMultiple."""

_CALM_TO_GROW = 3


class ChunkSizer:
    """AIMD sizing of bulk requests between ``low`` and ``high`` (see the module docstring)."""

    def __init__(self, start: int, *, low: int = 10, high: int = MAX_TARGETS) -> None:
        if not 1 <= start <= MAX_TARGETS:
            raise InvalidInputError(
                f"chunk_size must be between 1 and {MAX_TARGETS} (Dataverse's limit per bulk "
                f"request), got {start}"
            )
        self.high = min(max(high, start), MAX_TARGETS)
        self.low = min(low, start)
        self.size = start
        self._calm = 0

    def feedback(self, *, congested: bool) -> None:
        """Adjust after one request: ``congested`` when it was throttled or timed out."""
        if congested:
            self.size = max(self.low, self.size // 2)
            self._calm = 0
            return
        self._calm += 1
        if self._calm >= _CALM_TO_GROW:
            self.size = min(self.high, self.size + max(1, self.size // 2))
            self._calm = 0

    def __repr__(self) -> str:
        return f"ChunkSizer(size={self.size}, low={self.low}, high={self.high})"
