"""One identity's ``x-ms-dop-hint``, shared by its worker processes through the PostgreSQL journal.

Dataverse recommends at most ``x-ms-dop-hint`` requests in flight per user
(https://learn.microsoft.com/power-apps/developer/data-platform/send-parallel-requests), and
more makes throughput worse.  Worker processes of one identity on other machines would each
use the whole hint, so the journal hands out the hint as numbered *slots*:

* every live worker of an identity is registered in ``bulk_presence`` under a lease;
* its share is ``hint // live workers`` (the remainder to the first names in order);
* it holds one ``bulk_slots`` row per request it may have in flight, claims free slots up to its
  share and gives back the ones above it, but never below what it may still have in flight;
* a dead worker's presence and slots expire with their lease: a short one (seconds), renewed
  by :class:`~d365leads.bulk.dop_share.DopShare` while the worker runs, apart from the chunks'.

Slots are rows with one holder each, so the workers of an identity never hold more than the
hint between them, whatever the timing.  Every change happens under one advisory lock per
identity, with the database's clock.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = ["DopSlots"]

_NOW = "EXTRACT(EPOCH FROM clock_timestamp())"


class DopSlots:
    """One worker's registration and request slots for one identity on one org."""

    def __init__(
        self,
        engine: Engine,
        org_url: str,
        identity: str,
        worker: str,
        *,
        lease_s: float,
        wait_s: float | None = None,
    ) -> None:
        """``wait_s`` caps each statement of :meth:`sync` and :meth:`leave`, lock waits
        included (the engine's own limits otherwise), so a stuck exchange fails in time."""
        if lease_s <= 0:
            raise ValueError(f"lease_s must be positive, got {lease_s}")
        if wait_s is not None and not wait_s > 0:
            raise ValueError(f"wait_s must be positive, got {wait_s}")
        self._engine = engine
        self._key = {"org": org_url.rstrip("/"), "identity": identity, "me": worker}
        self._lease_s = lease_s
        self._wait_ms = None if wait_s is None else max(1, round(wait_s * 1000))

    def __repr__(self) -> str:
        return f"DopSlots({self._key['identity']!r}, worker={self._key['me']!r})"

    def known_hint(self) -> int | None:
        """The hint another live worker of this identity has seen (None when none has)."""
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.text(
                    "SELECT dop_hint FROM bulk_presence WHERE org_url = :org AND"
                    f" identity = :identity AND dop_hint IS NOT NULL AND lease_until > {_NOW}"
                    " ORDER BY lease_until DESC LIMIT 1"
                ),
                self._key,
            ).scalar()
        return int(found) if found is not None else None

    def sync(self, hint: int, *, keep: int) -> tuple[int, int]:
        """Renew this worker's lease and move its slots toward its share.

        ``keep`` is how many requests this worker may still have in flight: it never gives back
        slots below that.  Returns ``(slots held, share)``.
        """
        hint = max(1, hint)
        with self._engine.begin() as conn:
            self._lock(conn)
            now = float(conn.execute(sa.text(f"SELECT {_NOW}")).scalar_one())
            until = now + self._lease_s
            args = {**self._key, "until": until, "now": now, "hint": hint}
            conn.execute(
                sa.text(
                    "INSERT INTO bulk_presence (org_url, identity, worker, lease_until, dop_hint)"
                    " VALUES (:org, :identity, :me, :until, :hint)"
                    " ON CONFLICT (org_url, identity, worker) DO UPDATE SET"
                    " lease_until = EXCLUDED.lease_until, dop_hint = EXCLUDED.dop_hint"
                ),
                args,
            )
            conn.execute(
                sa.text(
                    "DELETE FROM bulk_presence WHERE org_url = :org AND identity = :identity"
                    " AND lease_until < :now"
                ),
                args,
            )
            live = list(
                conn.execute(
                    sa.text(
                        "SELECT worker FROM bulk_presence WHERE org_url = :org"
                        " AND identity = :identity ORDER BY worker"
                    ),
                    args,
                ).scalars()
            )
            rank = live.index(self._key["me"])
            share = hint // len(live) + (1 if rank < hint % len(live) else 0)
            rows = conn.execute(
                sa.text(
                    "SELECT slot, worker, lease_until FROM bulk_slots WHERE org_url = :org"
                    " AND identity = :identity"
                ),
                args,
            ).all()
            mine = sorted(r[0] for r in rows if r[1] == self._key["me"])
            taken = {r[0] for r in rows if r[1] is not None and r[1] != self._key["me"]}
            taken &= {r[0] for r in rows if r[2] >= now}
            floor = max(share, keep)
            if len(mine) > floor:
                mine, extra = mine[:floor], mine[floor:]
                conn.execute(
                    sa.text(
                        "UPDATE bulk_slots SET worker = NULL, lease_until = 0"
                        " WHERE org_url = :org AND identity = :identity AND slot = ANY(:extra)"
                    ),
                    {**args, "extra": extra},
                )
            elif len(mine) < share:
                free = [s for s in range(hint) if s not in taken and s not in mine]
                mine += free[: share - len(mine)]
            if mine:
                conn.execute(
                    sa.text(
                        "INSERT INTO bulk_slots (org_url, identity, slot, worker, lease_until)"
                        " VALUES (:org, :identity, :slot, :me, :until)"
                        " ON CONFLICT (org_url, identity, slot) DO UPDATE SET"
                        " worker = EXCLUDED.worker, lease_until = EXCLUDED.lease_until"
                    ),
                    [{**args, "slot": slot} for slot in mine],
                )
            return len(mine), share

    def leave(self) -> None:
        """Give back every slot and the registration (the worker stops sending)."""
        with self._engine.begin() as conn:
            self._lock(conn)
            for table in ("bulk_slots", "bulk_presence"):
                conn.execute(
                    sa.text(
                        f"DELETE FROM {table} WHERE org_url = :org AND identity = :identity"
                        " AND worker = :me"
                    ),
                    self._key,
                )

    def _lock(self, conn: Connection) -> None:
        if self._wait_ms is not None:
            # For this transaction only: the engine's limits stay as they are for the rest.
            conn.execute(
                sa.text(
                    "SELECT set_config('statement_timeout', :ms, true),"
                    " set_config('lock_timeout', :ms, true)"
                ),
                {"ms": str(self._wait_ms)},
            )
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
            {"name": f"d365leads-dop|{self._key['org']}|{self._key['identity']}"},
        )
