"""Bounded read-ahead of result pages on a worker thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from d365leads.http.pipeline import Page

__all__ = ["prefetch"]


_DONE: Any = object()


def prefetch(pages: Iterator[Page]) -> Iterator[Page]:
    """Yield ``pages`` while a worker thread fetches the next ones.

    At most one page waits to be consumed and one more is being fetched, so memory stays
    bounded by a few pages whatever the table size.

    Errors of the fetch are raised in the consumer, in order. When the consumer stops early
    the worker finishes its request in flight and ends; nothing is fetched after that.
    """
    slot: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def worker() -> None:
        try:
            for page in pages:
                slot.put((page, None))
                if stop.is_set():
                    return
            slot.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            slot.put((None, exc))

    thread = threading.Thread(target=worker, name="d365leads-sync-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            page, error = slot.get()
            if error is not None:
                raise error
            if page is _DONE:
                return
            yield page
    finally:
        stop.set()
        while thread.is_alive():
            # Free the slot so a worker blocked on put() can see the stop flag and end.
            try:
                slot.get_nowait()
            except queue.Empty:
                thread.join(0.01)
