"""This process's share of one identity's ``x-ms-dop-hint``, kept in step with the journal.

:class:`DopShare` registers this worker for an identity in the PostgreSQL journal
(:class:`~d365leads.bulk.journal_pg_share.DopSlots`), learns its share of the hint, and caps
the runner of that identity (:meth:`~d365leads.bulk.runner.scheduler.Scheduler.set_share`) at
the request slots it holds.  It re-syncs every ``interval_s`` on a thread, so a worker that
joins or leaves changes the others' share within about that time.

The registration and slots live under their own short lease (``lease_s``, a few seconds), which
that thread renews while the runner sends; it is not the chunk lease, which must outlast a slow
batch.  So a killed worker's slots come free within ``lease_s``, not after its chunk lease.
The price of a short lease is a worker that cannot reach the journal for that long: once it has
failed to for half the lease it sends nothing more (it *fences* itself) until a sync goes
through, so the workers that take its slots over only overlap a request of its that was already
in flight and lasts longer than the other half.  A sync that hangs counts as failing: each of
its statements, lock waits included, is cancelled by the server after ``wait_s`` (by default
well under the lease, see :class:`DopShare`), and the journal's engine bounds connecting and
notices a dead server or network (:class:`~d365leads.pg_waits.PgWaits`).  A server that keeps
the connection alive but stops answering altogether is beyond any of those limits, so a second
thread watches the age of the last sync that went through and fences the worker while that
sync still hangs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.exc import SQLAlchemyError

from d365leads.bulk.journal_pg import PgJournal
from d365leads.bulk.journal_pg_share import DopSlots
from d365leads.errors import HTTPError, TransportError

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["DEFAULT_SLOT_LEASE_S", "DopShare", "ShareTarget"]

DEFAULT_SLOT_LEASE_S = 5.0
"""How long a worker's dop-hint slots stay its own without renewal (renewed every 0.5 s)."""

_log = logging.getLogger(__name__)
_TIMED_OUT = {"57014": "statement_timeout", "55P03": "lock_timeout"}  # PostgreSQL SQLSTATEs
_FALLBACK_HINT = 4  # what the runner assumes when the server sends no x-ms-dop-hint


class ShareTarget(Protocol):
    """What a share caps: the runner's scheduler."""

    def set_share(self, share: int | None) -> None:
        """Cap the requests in flight."""

    def share_floor(self) -> int:
        """The most requests that may be in flight before the cap changes."""


class DopShare:
    """Keeps one identity's runner in this process within its share of the hint."""

    def __init__(
        self,
        journal: PgJournal,
        session: ApiSession,
        identity: str,
        worker: str,
        *,
        lease_s: float = DEFAULT_SLOT_LEASE_S,
        interval_s: float = 0.5,
        wait_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``wait_s`` caps each statement of a sync, lock waits included; by default
        ``min(lease_s / 4, (lease_s / 2 - interval_s) / 2)``, so a sync stuck on a lock fails
        and fences this worker before its slots can be taken over."""
        if lease_s < 3 * interval_s:
            raise ValueError(
                f"the slot lease ({lease_s} s) must be at least 3 sync intervals ({interval_s} s)"
            )
        room = lease_s / 2 - interval_s  # fencing starts this long before the lease ends
        if wait_s is None:
            wait_s = min(lease_s / 4, room / 2)
        elif not 0 < wait_s < room:
            raise ValueError(
                f"wait_s ({wait_s} s) must be positive and below half the slot lease less one"
                f" sync interval ({room} s)"
            )
        self._session = session
        self._slots = DopSlots(
            journal.engine, session.org_url, identity, worker, lease_s=lease_s, wait_s=wait_s
        )
        self.wait_s = wait_s
        """How long one statement of a sync may take, lock waits included."""
        self._interval = interval_s
        self._lease_s = lease_s
        self._clock = clock
        self._synced_at = clock()  # when the last sync that went through started
        self._lock = threading.Lock()  # one sync at a time
        self._cap = threading.Lock()  # the cap and what it is made of; never held over I/O
        self._target: ShareTarget | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.held = 0
        """Request slots this worker holds now."""
        self.share = 0
        """This worker's share of the hint at the last sync."""

    def __repr__(self) -> str:
        return f"DopShare(held={self.held}, share={self.share})"

    def hint(self) -> int:
        """The identity's hint: seen by this session, else by another worker, else asked."""
        throttle = self._session.throttle
        if throttle.dop_hint is None:
            known = self._slots.known_hint()
            if known is not None:
                throttle.dop_hint = known
            else:
                # Any answer carries the header; a probe while no slot is held is one request.
                with contextlib.suppress(HTTPError, TransportError):
                    self._session.get_json("WhoAmI")
        return throttle.dop_hint or _FALLBACK_HINT

    def attach(self, target: ShareTarget) -> None:
        """Cap ``target`` from now on (at the slots held so far)."""
        with self._cap:
            self._target = target
            target.set_share(min(self.held, self.share))

    def sync(self) -> None:
        """One exchange with the journal: renew, move slots toward the share, apply the cap."""
        with self._lock:
            started = self._clock()
            with self._cap:
                target = self._target
                keep = target.share_floor() if target is not None else 0
            held, share = self._slots.sync(self.hint(), keep=keep)
            with self._cap:
                self.held, self.share = held, share
                self._synced_at = started
                if self._target is not None:
                    self._target.set_share(min(held, share))

    def renew(self) -> None:
        """One heartbeat: :meth:`sync`; when the journal has been out of reach for half the
        slot lease, stop sending (the slots may soon be another worker's) until a sync works."""
        try:
            self.sync()
        except SQLAlchemyError as exc:
            state = getattr(getattr(exc, "orig", None), "sqlstate", None)
            if state in _TIMED_OUT:
                _log.warning(
                    "could not sync the dop-hint share: the journal did not finish a statement"
                    " within %g s (%s); a lock is held or the database is overloaded",
                    self.wait_s,
                    _TIMED_OUT[state],
                )
            else:
                _log.warning("could not sync the dop-hint share: %s", exc)
            self.watch()

    def watch(self) -> None:
        """Fence (cap at zero) when the last sync that went through is half a slot lease old,
        even while a sync is still waiting on a server that neither answers nor breaks."""
        with self._cap:
            # The lease ran from a database time after _synced_at, so this is early enough.
            if self._clock() - self._synced_at >= self._lease_s / 2 and self.held:
                self.held = 0
                if self._target is not None:
                    self._target.set_share(0)

    def start(self) -> None:
        """Sync once now, then every ``interval_s`` on a thread until :meth:`stop`, and watch
        on another that a hung sync still fences this worker in time."""
        self.sync()

        def loop() -> None:
            while not self._stop.wait(self._interval):
                self.renew()

        def watch() -> None:
            while not self._stop.wait(self._interval / 2):
                self.watch()

        for name, run in (("d365leads-dop-share", loop), ("d365leads-dop-watch", watch)):
            thread = threading.Thread(target=run, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop syncing and give the slots back (call once nothing is in flight).

        A sync still hung after half the slot lease is left behind (its thread is a daemon):
        the slots are not given back then, and run out with their lease instead.
        """
        self._stop.set()
        for thread in self._threads:
            thread.join(self._lease_s / 2)
        with self._cap:
            self._target = None
            self.held = 0
        if any(thread.is_alive() for thread in self._threads):
            _log.warning(
                "a dop-hint sync is still waiting on the journal; this worker's slots are left"
                " to run out with their lease (%g s)",
                self._lease_s,
            )
            return
        with self._lock:
            self._slots.leave()
