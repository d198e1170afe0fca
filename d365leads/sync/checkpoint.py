"""WAL checkpoints of an SQLite mirror on a thread of their own, off the sync's commit path.

In WAL mode a commit appends the transaction's pages to the ``-wal`` file; a checkpoint later
copies them into the database file and, with ``synchronous=NORMAL``, waits for the disk
(https://www.sqlite.org/wal.html#ckpt). SQLite runs that checkpoint inside the commit that
crosses ``wal_autocheckpoint`` pages, and a page of a few thousand rows always crosses it, so
every page of a pull waited for the disk. Here the sync's connections checkpoint on their own
only past :data:`WAL_PAGES_BEFORE_CHECKPOINT` (a safety net), and a thread runs a ``PASSIVE``
checkpoint after each commit, on its own connection, while the pull parses and writes the next
page. What a commit guarantees does not change (the same WAL, the same synchronous level); the
checkpoint only happens a little later.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

__all__ = ["WAL_PAGES_BEFORE_CHECKPOINT", "BackgroundCheckpoint"]

logger = logging.getLogger(__name__)

WAL_PAGES_BEFORE_CHECKPOINT = 20_000
"""``wal_autocheckpoint`` of the sync's connections: about 80 MB of WAL with 4 KiB pages."""


class BackgroundCheckpoint:
    """Checkpoints the WAL of the SQLite file ``path`` after each :meth:`poke`, on a thread.

    The thread starts at a :meth:`poke` and ends after ``idle`` seconds without one, or at
    :meth:`close` (after a last checkpoint). A failed checkpoint is logged and tried again at
    the next poke (SQLite keeps the WAL until then).
    """

    def __init__(self, path: str, *, idle: float = 2.0) -> None:
        self.path = path
        self.idle = idle
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def poke(self) -> None:
        """Ask for a checkpoint of what has been committed so far."""
        with self._lock:
            if self._closing:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="d365leads-sync-checkpoint", daemon=True
                )
                self._thread.start()
            self._wake.set()

    def close(self) -> None:
        """Run a last checkpoint and end the thread (a no-op when it never started)."""
        with self._lock:
            self._closing = True
            thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        except sqlite3.Error as exc:
            logger.debug("cannot open %s for checkpoints: %s", self.path, exc)
            return
        try:
            while True:
                if not self._wake.wait(self.idle):
                    with self._lock:
                        if not self._wake.is_set():
                            self._thread = None  # the next poke starts a new thread
                            return
                self._wake.clear()
                closing = self._closing
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    logger.debug("checkpoint of %s failed: %s", self.path, exc)
                if closing:
                    return
        finally:
            conn.close()
