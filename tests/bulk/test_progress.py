"""The progress bar: on stderr only when it is a terminal, with the job's live figures."""

from __future__ import annotations

import io

from d365leads.bulk import JobProgress
from d365leads.bulk.progress import ProgressDisplay


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _snapshot() -> JobProgress:
    return JobProgress(
        total=1000,
        completed=250,
        done=240,
        failed=4,
        skipped=6,
        elapsed_s=5.0,
        rate=50.0,
        eta_s=15.0,
        throttled=3,
        concurrency=6,
        batch_size=80,
    )


def test_shows_figures_on_a_terminal() -> None:
    stream = _Terminal()
    with ProgressDisplay(1000, stream=stream) as display:
        assert display.enabled
        display.update(_snapshot())
    text = stream.getvalue()
    for expected in ("250/1000", "50.0 rec/s", "ETA 0:15", "429s 3", "workers 6 batch 80"):
        assert expected in text, text


def test_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressDisplay(1000, stream=stream) as display:
        assert not display.enabled
        display.update(_snapshot())
    assert stream.getvalue() == ""
