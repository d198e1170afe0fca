"""Commit a pull's pages on one writer thread while the next page is read and prepared.

sqlite3 releases the GIL while SQLite inserts each row and while it commits, so a page's
``executemany`` and ``COMMIT`` can run next to the Python work of the next page (its rows
built here, the page after it fetched and parsed by :mod:`.read_ahead`). The rules the pull
had without the thread still hold:

* one writer, jobs in submission order: each page (its rows and the sync position after it,
  one transaction) commits after the page before it, never beside it;
* after a job fails, no later job runs (a later page's position would skip the failed page's
  rows); the failure is raised in the pull's thread at its next submission or at the end, so
  the pull stops with the same error it raised before;
* at most one page waits for the writer, so memory stays bounded by a few pages.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["PageWriter", "Submit", "page_writer"]

Submit = Callable[[Callable[[], None]], None]
"""Hands one page's commit (a callable) to the writer."""


class PageWriter:
    """One writer thread running submitted jobs in order, stopping at the first failure."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self._failed = threading.Event()
        self._thread = threading.Thread(
            target=self._work, name="d365leads-sync-writer", daemon=True
        )
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if not self._failed.is_set():
                    job()
            except BaseException as exc:  # handed to the pull's thread, raised there
                self._failure = exc
                self._failed.set()
            finally:
                self._jobs.task_done()

    def _raise_failure(self) -> None:
        if self._failed.is_set():
            assert self._failure is not None
            raise self._failure

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job`` after the ones before it (waits while one job already waits).

        Raises the failure of an earlier job instead, once one has failed.
        """
        self._raise_failure()
        self._jobs.put(job)

    def drain(self) -> None:
        """Wait until every submitted job ran (or was skipped after a failure); raise the
        failure if there was one."""
        self._jobs.join()
        self._raise_failure()

    def close(self) -> None:
        """Let the queued jobs finish, then end the thread."""
        self._jobs.put(None)
        self._thread.join()


def _inline(job: Callable[[], None]) -> None:
    job()


@contextmanager
def page_writer(overlap: bool) -> Iterator[Submit]:
    """A :data:`Submit` for one pass of pages: on a writer thread when ``overlap``, else run
    at once in the caller's thread.

    Leaving the block waits for every submitted page. When a page's commit failed, that error
    is raised (the pass's own error, if any, chained to it); otherwise the pass's own error.
    """
    if not overlap:
        yield _inline
        return
    writer = PageWriter()
    try:
        try:
            yield writer.submit
        except BaseException as exc:
            # The pages already handed over are whole pages read before this error: they are
            # committed as they would have been without the thread, then the error goes on.
            writer.drain()  # a failed commit wins: it is the earlier page's error
            raise exc
        writer.drain()
    finally:
        writer.close()
