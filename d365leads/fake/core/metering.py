"""The operation meter of the request being handled on this thread.

A request carries out one operation, a ``$batch`` one per part.  The latency middleware (or
service protection, further out) opens a :class:`Meter` with :func:`metering`; the ``$batch``
handler calls :func:`note_operation` for each operation it dispatches, and a bulk operation
message (``UpdateMultiple``…) calls :func:`note_records` with the number of its records, which
are charged at the bulk rate.  The meter lives here,
below both, so the handler never imports the pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Meter", "current_meter", "metering", "note_operation", "note_records"]


@dataclass
class Meter:
    """Operations and execution time of the request being handled on this thread."""

    operations: int = 0
    exec_ms: float = 0.0
    records: int = 0
    """Records written by bulk operation messages (charged at the bulk rate, not per op)."""


_local = threading.local()


def current_meter() -> Meter | None:
    """The meter of the request being handled on this thread, if any."""
    meter: Meter | None = getattr(_local, "meter", None)
    return meter


@contextmanager
def metering() -> Iterator[Meter]:
    """Open a meter for one request (re-uses the one already open on this thread)."""
    existing = current_meter()
    if existing is not None:
        yield existing
        return
    meter = Meter()
    _local.meter = meter
    try:
        yield meter
    finally:
        _local.meter = None


def note_operation(count: int = 1) -> None:
    """Record that the current request carried out ``count`` more operations."""
    meter = current_meter()
    if meter is not None:
        meter.operations += count


def note_records(count: int) -> None:
    """Record that the current request wrote ``count`` records through a bulk message."""
    meter = current_meter()
    if meter is not None:
        meter.records += count
