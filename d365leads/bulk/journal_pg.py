"""The bulk job journal on PostgreSQL, shared by worker processes on any machine.

Same items and life cycle as the SQLite :class:`~d365leads.bulk.journal.Journal` (an item is
committed ``inflight`` before it is sent), written through SQLAlchemy Core.  On top of it:

* **Chunks under leases.**  A job's items are cut into chunks when the job is created.  A worker
  claims the next open chunk, or one whose lease has expired, with ``SELECT ... FOR UPDATE SKIP
  LOCKED``, so two workers never wait on or take the same chunk.  A live worker renews its leases
  (:meth:`PgJournal.renew`); a dead one's lease runs out and its chunk is claimed again, its
  ``inflight`` items re-read before anything is re-sent.  Lease times come from the database's
  clock, so machines with skewed clocks agree.
* **Finishing once.**  :meth:`PgJournal.finish_job` flips the job to ``finished`` in one
  conditional ``UPDATE``: whichever worker gets there first does it, the others see False.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from d365leads.bulk.journal import (
    ITEM_STATUSES,
    SELECTING,
    ItemOutcome,
    ItemRow,
    JobInfo,
    group_outcomes,
)
from d365leads.bulk.journal_pg_tables import ROW_COLUMNS as _ROW_COLUMNS
from d365leads.bulk.journal_pg_tables import chunks as _chunks
from d365leads.bulk.journal_pg_tables import items as _items
from d365leads.bulk.journal_pg_tables import jobs as _jobs
from d365leads.bulk.journal_pg_tables import metadata as _md
from d365leads.bulk.planner import JobSpec, Plan
from d365leads.bulk.selection import Selection
from d365leads.errors import BulkJobError, ConfigError
from d365leads.pg_waits import PgWaits, explain_wait

__all__ = ["DEFAULT_CHUNK_SIZE", "PgJournal", "is_database_url"]

DEFAULT_CHUNK_SIZE = 100

_DB_NOW = "EXTRACT(EPOCH FROM clock_timestamp())"
_CLAIM = sa.text(
    f"UPDATE bulk_chunks SET state = 'leased', worker = :worker, claims = claims + 1,"
    f" lease_until = {_DB_NOW} + :lease"
    " WHERE job_id = :job_id AND chunk = ("
    "  SELECT chunk FROM bulk_chunks WHERE job_id = :job_id AND (state = 'open' OR"
    f"   (state = 'leased' AND lease_until < {_DB_NOW}))"
    "  ORDER BY chunk LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING chunk"
)


def is_database_url(text: str) -> bool:
    """True when ``text`` names a PostgreSQL journal rather than a SQLite file."""
    return text.split(":", 1)[0].split("+", 1)[0].lower() in ("postgresql", "postgres")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class PgJournal:
    """A job journal in a PostgreSQL database (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        engine: Engine | None = None,
        waits: PgWaits | None = None,
    ) -> None:
        """``waits`` bounds every wait on the server (:class:`~d365leads.pg_waits.PgWaits`);
        the URL's query (``?statement_timeout=30``) wins over it."""
        if chunk_size < 1:
            raise BulkJobError(f"chunk_size must be at least 1, got {chunk_size}")
        self.chunk_size = chunk_size
        try:
            parsed = sa.make_url(url)
        except ArgumentError as exc:
            raise BulkJobError("not a database URL; use postgresql://user@host/db") from exc
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, which we ship
        if parsed.get_backend_name() != "postgresql":
            raise BulkJobError(f"a shared job journal needs PostgreSQL, not {parsed.drivername}")
        self.path = parsed.render_as_string(hide_password=True)
        self.waits = waits or PgWaits()
        try:
            if engine is None:
                engine, self.waits = self.waits.engine(parsed, pool_size=8, pool_pre_ping=True)
            self._engine = engine
            with self._engine.begin() as conn:
                # One creator at a time: CREATE TABLE IF NOT EXISTS races between processes.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(5365001)"))
                _md.create_all(conn)
                # Databases made before the field jobs lack the column (PostgreSQL 9.6+).
                conn.execute(sa.text("ALTER TABLE bulk_items ADD COLUMN IF NOT EXISTS path TEXT"))
        except (NoSuchModuleError, ImportError) as exc:
            raise BulkJobError(
                f"cannot open {self.path}: {exc}; "
                "install the driver: pip install 'd365leads[postgres]'"
            ) from exc
        except ConfigError as exc:
            raise BulkJobError(f"cannot open the job journal {self.path}: {exc}") from exc
        except SQLAlchemyError as exc:
            what = f"cannot open the job journal {self.path}"
            why = explain_wait(exc, self.waits, what)
            raise BulkJobError(why or f"{what}: {getattr(exc, 'orig', None) or exc}") from exc

    def __repr__(self) -> str:
        return f"PgJournal({self.path!r})"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for the journal's companions, such as the dop-hint shares)."""
        return self._engine

    def close(self) -> None:
        """Release the connections."""
        self._engine.dispose()

    def __enter__(self) -> PgJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # jobs

    def open_job(self, org_url: str, spec: JobSpec, selection: Selection) -> str:
        """Store a job with its selection before a single lead is read (state ``selecting``).

        As in the SQLite journal: a process killed while reading the selection leaves the job
        behind for ``--resume-last``; :meth:`create_job` with ``job_id`` fills in its items.
        """
        job_id = _new_job_id()
        now = _now()
        with self._engine.begin() as conn:
            conn.execute(
                _jobs.insert().values(
                    job_id=job_id,
                    created_at=now,
                    updated_at=now,
                    org_url=org_url.rstrip("/"),
                    action=spec.action.value,
                    spec=json.dumps(spec.to_json()),
                    spec_hash=spec.digest(),
                    selection=json.dumps(selection.to_json()),
                    state=SELECTING,
                    total=0,
                )
            )
        return job_id

    def discard_job(self, job_id: str) -> None:
        """Forget a job that never got its items (the user declined the plan)."""
        with self._engine.begin() as conn:
            conn.execute(_jobs.delete().where(_jobs.c.job_id == job_id, _jobs.c.state == SELECTING))

    def create_job(
        self, org_url: str, plan: Plan, selection: Selection, *, job_id: str | None = None
    ) -> str:
        """Store a planned job, its items and its chunks; return the job id.

        ``job_id`` names a job stored by :meth:`open_job`, whose header is completed.
        """
        opened = job_id is not None
        job_id = job_id or _new_job_id()
        now = _now()
        size = self.chunk_size
        items = [
            {
                "job_id": job_id,
                "lead_id": item.lead_id,
                "seq": seq,
                "chunk": seq // size,
                "name": item.name,
                "before_state": item.before_state,
                "before_status": item.before_status,
                "target_state": item.target_state,
                "target_status": item.target_status,
                "status": "pending" if item.skip_reason is None else "skipped",
                "skip_reason": item.skip_reason,
                "attempts": 0,
                "updated_at": now,
            }
            for seq, item in enumerate(plan.items)
        ]
        open_chunks = {row["chunk"] for row in items if row["status"] == "pending"}
        chunks = [
            {"job_id": job_id, "chunk": c, "state": "open" if c in open_chunks else "done"}
            for c in range((len(items) + size - 1) // size)
        ]
        with self._engine.begin() as conn:
            if opened:
                changed = conn.execute(
                    _jobs.update()
                    .where(_jobs.c.job_id == job_id, _jobs.c.state == SELECTING)
                    .values(
                        state="planned",
                        total=len(items),
                        updated_at=now,
                        spec_hash=plan.spec.digest(),
                    )
                ).rowcount
                if changed != 1:
                    raise BulkJobError(f"job {job_id} is not waiting for its selection")
            else:
                conn.execute(
                    _jobs.insert().values(
                        job_id=job_id,
                        created_at=now,
                        updated_at=now,
                        org_url=org_url.rstrip("/"),
                        action=plan.spec.action.value,
                        spec=json.dumps(plan.spec.to_json()),
                        spec_hash=plan.spec.digest(),
                        selection=json.dumps(selection.to_json()),
                        state="planned",
                        total=len(items),
                    )
                )
            if items:
                conn.execute(_items.insert(), items)
                conn.execute(_chunks.insert(), chunks)
        return job_id

    def _job_rows(self, where: Any = None) -> list[JobInfo]:
        query = sa.select(
            _jobs.c.job_id,
            _jobs.c.created_at,
            _jobs.c.org_url,
            _jobs.c.spec,
            _jobs.c.selection,
            _jobs.c.state,
            _jobs.c.total,
        ).order_by(_jobs.c.created_at.desc(), _jobs.c.job_id.desc())
        if where is not None:
            query = query.where(where)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        infos = []
        for row in rows:
            try:
                spec = JobSpec.from_json(json.loads(row[3]))
                selection = Selection.from_json(json.loads(row[4]))
            except (ValueError, KeyError, TypeError) as exc:
                raise BulkJobError(f"job {row[0]} in the journal is corrupt: {exc}") from exc
            infos.append(JobInfo(row[0], row[1], row[2], spec, selection, row[5], int(row[6])))
        return infos

    def job(self, job_id: str) -> JobInfo:
        """Load a job's header; :class:`BulkJobError` if there is no such job."""
        found = self._job_rows(_jobs.c.job_id == job_id)
        if not found:
            raise BulkJobError(f"no job {job_id!r} in the journal {self.path}")
        return found[0]

    def jobs(self) -> list[JobInfo]:
        """Every job, newest first."""
        return self._job_rows()

    def last_unfinished(self, org_url: str | None = None) -> JobInfo:
        """The newest job that has not finished (optionally for one org)."""
        for info in self.jobs():
            if info.state != "finished" and (
                org_url is None or info.org_url == org_url.rstrip("/")
            ):
                return info
        where = f" for {org_url}" if org_url else ""
        raise BulkJobError(f"no unfinished job{where} in the journal {self.path}")

    def set_state(self, job_id: str, state: str) -> None:
        """Set the job state (``planned``, ``running``); never undoes ``finished``."""
        with self._engine.begin() as conn:
            conn.execute(
                _jobs.update()
                .where(_jobs.c.job_id == job_id, _jobs.c.state != "finished")
                .values(state=state, updated_at=_now())
            )

    def finish_job(self, job_id: str) -> bool:
        """Mark the job finished if every item is settled; True for the one caller that did."""
        settled = ~sa.exists().where(
            _items.c.job_id == job_id, _items.c.status.in_(("pending", "inflight"))
        )
        with self._engine.begin() as conn:
            result = conn.execute(
                _jobs.update()
                .where(_jobs.c.job_id == job_id, _jobs.c.state != "finished", settled)
                .values(state="finished", updated_at=_now())
            )
            return bool(result.rowcount == 1)

    # items

    def items(self, job_id: str, statuses: Sequence[str] | None = None) -> list[ItemRow]:
        """Items of a job in selection order, optionally only those in ``statuses``."""
        query = sa.select(*_ROW_COLUMNS).where(_items.c.job_id == job_id)
        if statuses is not None:
            query = query.where(_items.c.status.in_(list(statuses)))
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(_items.c.seq)).all()
        return [ItemRow(*row) for row in rows]

    def iter_items(self, job_id: str) -> Iterator[ItemRow]:
        """All items of a job, in selection order."""
        yield from self.items(job_id)

    def counts(self, job_id: str) -> dict[str, int]:
        """Number of items per status."""
        query = (
            sa.select(_items.c.status, sa.func.count())
            .where(_items.c.job_id == job_id)
            .group_by(_items.c.status)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        counts = dict.fromkeys(ITEM_STATUSES, 0)
        counts.update({status: int(n) for status, n in rows})
        return counts

    def counts_by_identity(self, job_id: str) -> dict[str, dict[str, int]]:
        """Items per identity that last sent them, per status (unsent items are left out)."""
        query = (
            sa.select(_items.c.identity, _items.c.status, sa.func.count())
            .where(_items.c.job_id == job_id, _items.c.identity.is_not(None))
            .group_by(_items.c.identity, _items.c.status)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        result: dict[str, dict[str, int]] = {}
        for identity, status, n in rows:
            result.setdefault(identity, dict.fromkeys(ITEM_STATUSES, 0))[status] = int(n)
        return result

    def mark_inflight(
        self, job_id: str, lead_ids: Sequence[str], *, identity: str | None = None
    ) -> None:
        """Commit that these items are about to be sent by ``identity`` (count the attempt)."""
        values: dict[str, Any] = {
            "status": "inflight",
            "attempts": _items.c.attempts + 1,
            "updated_at": _now(),
        }
        if identity is not None:
            values["identity"] = identity
        with self._engine.begin() as conn:
            conn.execute(
                _items.update()
                .where(_items.c.job_id == job_id, _items.c.lead_id.in_(list(lead_ids)))
                .values(**values)
            )

    def record(self, job_id: str, outcomes: Sequence[ItemOutcome]) -> None:
        """Commit outcomes (one transaction for the whole list)."""
        if not outcomes:
            return
        now = _now()
        groups = group_outcomes(outcomes)
        with self._engine.begin() as conn:
            if groups is None:
                for o in outcomes:
                    conn.execute(_outcome_update(job_id, [o.lead_id], o.written(), now))
                return
            for values, ids in groups.items():
                conn.execute(_outcome_update(job_id, ids, values, now))

    # chunks and leases

    def claim_chunk(self, job_id: str, worker: str, lease_s: float) -> int | None:
        """Lease the next open (or expired) chunk to ``worker``; None when none is free now."""
        with self._engine.begin() as conn:
            row = conn.execute(
                _CLAIM, {"job_id": job_id, "worker": worker, "lease": lease_s}
            ).first()
        return None if row is None else int(row[0])

    def chunk_items(self, job_id: str, chunk: int) -> list[ItemRow]:
        """The unsettled items (pending or inflight) of one chunk."""
        query = (
            sa.select(*_ROW_COLUMNS)
            .where(
                _items.c.job_id == job_id,
                _items.c.chunk == chunk,
                _items.c.status.in_(("pending", "inflight")),
            )
            .order_by(_items.c.seq)
        )
        with self._engine.connect() as conn:
            return [ItemRow(*row) for row in conn.execute(query).all()]

    def renew(self, job_id: str, worker: str, lease_s: float) -> int:
        """Extend every lease ``worker`` holds on the job; return how many."""
        with self._engine.begin() as conn:
            result = conn.execute(
                sa.text(
                    f"UPDATE bulk_chunks SET lease_until = {_DB_NOW} + :lease"
                    " WHERE job_id = :job_id AND worker = :worker AND state = 'leased'"
                ),
                {"job_id": job_id, "worker": worker, "lease": lease_s},
            )
            return int(result.rowcount)

    def settle_chunks(self, job_id: str, worker: str, *, release: bool = False) -> None:
        """Mark ``worker``'s chunks done when all their items are settled.

        With ``release`` the unsettled ones are given back (open) for another worker.
        """
        unsettled = sa.exists().where(
            _items.c.job_id == _chunks.c.job_id,
            _items.c.chunk == _chunks.c.chunk,
            _items.c.status.in_(("pending", "inflight")),
        )
        mine = (_chunks.c.job_id == job_id, _chunks.c.worker == worker, _chunks.c.state == "leased")
        with self._engine.begin() as conn:
            conn.execute(_chunks.update().where(*mine, ~unsettled).values(state="done"))
            if release:
                conn.execute(
                    _chunks.update().where(*mine, unsettled).values(state="open", worker=None)
                )

    def chunk_states(self, job_id: str) -> dict[str, int]:
        """Chunks per state (``open``, ``leased``, ``done``)."""
        query = (
            sa.select(_chunks.c.state, sa.func.count())
            .where(_chunks.c.job_id == job_id)
            .group_by(_chunks.c.state)
        )
        with self._engine.connect() as conn:
            found = {state: int(n) for state, n in conn.execute(query).all()}
        return {state: found.get(state, 0) for state in ("open", "leased", "done")}

    # pauses shared by the workers of one identity

    def publish_pause(self, org_url: str, identity: str, seconds: float) -> None:
        """Record that ``identity`` must not send to ``org_url`` for ``seconds`` (a 429)."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO bulk_pauses (org_url, identity, paused_until)"
                    f" VALUES (:org, :identity, {_DB_NOW} + :s)"
                    " ON CONFLICT (org_url, identity) DO UPDATE SET paused_until ="
                    " GREATEST(bulk_pauses.paused_until, EXCLUDED.paused_until)"
                ),
                {"org": org_url.rstrip("/"), "identity": identity, "s": seconds},
            )

    def pause_remaining(self, org_url: str, identity: str) -> float:
        """Seconds ``identity`` must still wait before sending to ``org_url`` (0 if none)."""
        with self._engine.connect() as conn:
            left = conn.execute(
                sa.text(
                    f"SELECT paused_until - {_DB_NOW} FROM bulk_pauses"
                    " WHERE org_url = :org AND identity = :identity"
                ),
                {"org": org_url.rstrip("/"), "identity": identity},
            ).scalar()
        return max(0.0, float(left)) if left is not None else 0.0


def _outcome_update(job_id: str, lead_ids: list[str], values: tuple[Any, ...], now: str) -> Any:
    """One ``UPDATE`` writing the same outcome ``values`` to every lead of ``lead_ids``."""
    status, http_status, code, message, after_state, after_status, path = values
    return (
        _items.update()
        .where(_items.c.job_id == job_id, _items.c.lead_id.in_(lead_ids))
        .values(
            status=status,
            http_status=http_status,
            error_code=code,
            error_message=message,
            after_state=sa.func.coalesce(
                sa.bindparam("b_after_state", after_state, type_=sa.Integer), _items.c.after_state
            ),
            after_status=sa.func.coalesce(
                sa.bindparam("b_after_status", after_status, type_=sa.Integer),
                _items.c.after_status,
            ),
            path=sa.func.coalesce(sa.bindparam("b_path", path, type_=sa.Text), _items.c.path),
            updated_at=now,
        )
    )


def _new_job_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
