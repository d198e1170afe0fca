"""One identity's ``Retry-After`` pause, shared by its workers in every process.

Service-protection limits are counted per user
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits): when one process
gets a 429, the other processes sending as the same user would only be refused too, and keep
lengthening the wait.  :class:`SharedPause` publishes a pause this process was told about to the
journal, and applies a pause another process published to this process's throttle state, so the
session holds every request back until it is over.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from d365leads.bulk.journal_pg import PgJournal

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["SharedPause"]

_log = logging.getLogger(__name__)


class SharedPause:
    """Keeps one identity's pause in step between this process and the journal.

    :meth:`sync` does one exchange; :meth:`start` runs it every ``interval_s`` on a thread
    until :meth:`stop`.
    """

    def __init__(
        self, journal: PgJournal, session: ApiSession, identity: str, *, interval_s: float = 0.1
    ) -> None:
        self._journal = journal
        self._session = session
        self._identity = identity
        self._interval = interval_s
        self._seen = session.throttle.throttled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = 0
        """Pauses learnt from other processes."""

    def __repr__(self) -> str:
        return f"SharedPause({self._identity!r}, applied={self.applied})"

    def sync(self) -> None:
        """Publish a 429 seen here since the last call; adopt a longer pause seen elsewhere."""
        throttle = self._session.throttle
        org = self._session.org_url
        local = throttle.pause_remaining()
        if throttle.throttled > self._seen:
            self._seen = throttle.throttled
            if local > 0:
                self._journal.publish_pause(org, self._identity, local)
        remote = self._journal.pause_remaining(org, self._identity)
        if remote > local + 0.05:
            throttle.extend_pause(remote)
            self.applied += 1

    def start(self) -> None:
        """Sync in the background until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.wait(self._interval):
                try:
                    self.sync()
                except Exception:
                    continue

        self._thread = threading.Thread(target=loop, name="d365leads-shared-pause", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background sync."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
