"""A rich progress bar for bulk jobs, shown on stderr only when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from d365leads.bulk.runner import JobProgress

__all__ = ["ProgressDisplay"]


class ProgressDisplay:
    """Context manager; pass :meth:`update` as the runner's ``on_progress``.

    Shows done/total, records per second, ETA, throttled responses, the current concurrency and
    batch size.  Does nothing when ``stream`` (stderr by default) is not a terminal, or when
    ``enabled`` is False.
    """

    def __init__(
        self, total: int, *, stream: IO[str] | None = None, enabled: bool | None = None
    ) -> None:
        out = stream if stream is not None else sys.stderr
        self.enabled = out.isatty() if enabled is None else enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._total = total
        self._stream = out

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]bulk[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.1f} rec/s"),
                TextColumn("ETA {task.fields[eta]}"),
                TextColumn("429s {task.fields[throttled]}"),
                TextColumn("workers {task.fields[concurrency]} batch {task.fields[batch]}"),
                TimeElapsedColumn(),
                console=Console(file=self._stream, stderr=True),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "bulk",
                total=self._total,
                rate=0.0,
                eta="-",
                throttled=0,
                concurrency=0,
                batch=0,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, snap: JobProgress) -> None:
        """Show a progress snapshot."""
        if self._progress is None or self._task is None:
            return
        eta = "-" if snap.eta_s is None else _duration(snap.eta_s)
        self._progress.update(
            self._task,
            completed=snap.completed,
            rate=snap.rate,
            eta=eta,
            throttled=snap.throttled,
            concurrency=snap.concurrency,
            batch=snap.batch_size,
        )


def _duration(seconds: float) -> str:
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"
