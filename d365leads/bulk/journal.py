"""The bulk job journal: a SQLite file that makes a job durable and resumable.

One row per job (org, spec, selection) and one row per selected lead with its planned transition
and its outcome.  Items move ``pending -> inflight -> done | failed`` (or start as ``skipped``);
an item is marked ``inflight`` and committed *before* its request is sent, and its outcome is
committed as soon as it arrives.  The database runs in WAL mode, so a process killed at any
moment (``kill -9`` included) leaves every committed transition intact; on resume the
``inflight`` items are the only ones whose outcome is unknown, and they are re-read from
Dataverse before anything is re-sent.

The default file is ``jobs.sqlite`` in the platform's user data directory (``platformdirs``).
"""

from __future__ import annotations

import contextlib
import json
import operator
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs

from d365leads.bulk.planner import JobSpec, Plan
from d365leads.bulk.selection import Selection
from d365leads.errors import BulkJobError

__all__ = [
    "SELECTING",
    "ItemOutcome",
    "ItemRow",
    "JobInfo",
    "Journal",
    "default_journal_path",
    "group_outcomes",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id      TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    org_url     TEXT NOT NULL,
    action      TEXT NOT NULL,
    spec        TEXT NOT NULL,
    spec_hash   TEXT NOT NULL,
    selection   TEXT NOT NULL,
    state       TEXT NOT NULL,
    total       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    job_id        TEXT NOT NULL REFERENCES jobs(job_id),
    seq           INTEGER NOT NULL,
    lead_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    before_state  INTEGER,
    before_status INTEGER,
    target_state  INTEGER NOT NULL,
    target_status INTEGER NOT NULL,
    status        TEXT NOT NULL,
    skip_reason   TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    http_status   INTEGER,
    error_code    TEXT,
    error_message TEXT,
    after_state   INTEGER,
    after_status  INTEGER,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (job_id, lead_id)
);
CREATE INDEX IF NOT EXISTS items_status ON items (job_id, status);
"""

# Added for jobs run by several identities; journals written before it lack the column.
_IDENTITY_COLUMN = "ALTER TABLE items ADD COLUMN identity TEXT"
# Added with the field jobs: how the item was written (UpdateMultiple or $batch).
_PATH_COLUMN = "ALTER TABLE items ADD COLUMN path TEXT"

SELECTING = "selecting"
"""State of a job stored before its selection was read (see :meth:`Journal.open_job`)."""

ITEM_STATUSES = ("pending", "inflight", "done", "failed", "skipped")


def default_journal_path() -> Path:
    """``<user data dir>/d365leads/jobs.sqlite``."""
    return Path(platformdirs.user_data_dir("d365leads", appauthor=False)) / "jobs.sqlite"


def _new_job_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobInfo:
    """A job's header row."""

    job_id: str
    created_at: str
    org_url: str
    spec: JobSpec
    selection: Selection
    state: str
    total: int


@dataclass(frozen=True)
class ItemRow:
    """One journal item."""

    seq: int
    lead_id: str
    name: str
    before_state: int | None
    before_status: int | None
    target_state: int
    target_status: int
    status: str
    skip_reason: str | None
    attempts: int
    http_status: int | None
    error_code: str | None
    error_message: str | None
    after_state: int | None
    after_status: int | None
    path: str | None = None
    """How the item was last written: ``UpdateMultiple`` or ``$batch`` (None before a send)."""


@dataclass(frozen=True)
class ItemOutcome:
    """A final or intermediate outcome to record for one item.

    ``status`` is ``done``, ``failed`` or ``pending`` (a transient failure: sent again later).
    """

    lead_id: str
    status: str
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    after_state: int | None = None
    after_status: int | None = None
    path: str | None = None

    def written(self) -> tuple[Any, ...]:
        """What a journal writes for this outcome: status, HTTP status, error code and message,
        state and status after, path (in that order)."""
        written: tuple[Any, ...] = _WRITTEN(self)
        return written


_RECORDABLE = ("pending", "done", "failed", "inflight")
# What ItemOutcome.written() gives, read by one C-level getter (this runs for every item sent).
_WRITTEN = operator.attrgetter(
    "status",
    "http_status",
    "error_code",
    "error_message",
    "after_state",
    "after_status",
    "path",
)


def group_outcomes(outcomes: Sequence[ItemOutcome]) -> dict[tuple[Any, ...], list[str]] | None:
    """The lead ids of ``outcomes`` grouped by what they write (a chunk's "done", 204 and target
    state share one statement), or ``None`` when a lead is listed twice: its outcomes must then
    apply in list order, one statement each. Raises ``ValueError`` for an unknown status."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    seen: set[str] = set()
    for o in outcomes:
        values = _WRITTEN(o)
        if values[0] not in _RECORDABLE:
            raise ValueError(f"cannot record item status {o.status!r}")
        seen.add(o.lead_id)
        found = groups.get(values)
        if found is None:
            groups[values] = [o.lead_id]
        else:
            found.append(o.lead_id)
    return groups if len(seen) == len(outcomes) else None


class Journal:
    """Access to one journal file; safe to share between the job's threads."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_journal_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process; only an OS crash can lose the
            # last commits (https://www.sqlite.org/pragma.html#pragma_synchronous).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
            if "identity" not in columns:
                self._db.execute(_IDENTITY_COLUMN)
            if "path" not in columns:
                self._db.execute(_PATH_COLUMN)
        except sqlite3.DatabaseError as exc:
            raise BulkJobError(f"cannot open the job journal {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, rolled back if anything inside it fails."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _write(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._transaction() as db:
            db.executemany(sql, rows)

    # jobs

    def open_job(self, org_url: str, spec: JobSpec, selection: Selection) -> str:
        """Store a job with its selection before a single lead is read (state ``selecting``).

        A process killed while it reads the selection leaves this row behind, so
        ``--resume-last`` finds the job, plans it again from the stored selection (nothing was
        written yet) and continues; :meth:`create_job` with ``job_id`` fills in the items.
        """
        job_id = _new_job_id()
        now = _now()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id,
                    now,
                    now,
                    org_url.rstrip("/"),
                    spec.action.value,
                    json.dumps(spec.to_json()),
                    spec.digest(),
                    json.dumps(selection.to_json()),
                    SELECTING,
                    0,
                ),
            )
        return job_id

    def discard_job(self, job_id: str) -> None:
        """Forget a job that never got its items (the user declined the plan)."""
        with self._transaction() as db:
            db.execute("DELETE FROM jobs WHERE job_id = ? AND state = ?", (job_id, SELECTING))

    def create_job(
        self, org_url: str, plan: Plan, selection: Selection, *, job_id: str | None = None
    ) -> str:
        """Store a planned job and all its items in one transaction; return the job id.

        With ``job_id`` (a job from :meth:`open_job`, still ``selecting``) the items go under
        that job; otherwise a new job is created.
        """
        now = _now()
        with self._transaction() as db:
            if job_id is None:
                job_id = _new_job_id()
                db.execute(
                    "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        job_id,
                        now,
                        now,
                        org_url.rstrip("/"),
                        plan.spec.action.value,
                        json.dumps(plan.spec.to_json()),
                        plan.spec.digest(),
                        json.dumps(selection.to_json()),
                        "planned",
                        len(plan.items),
                    ),
                )
            else:
                changed = db.execute(
                    "UPDATE jobs SET state = 'planned', total = ?, updated_at = ?"
                    " WHERE job_id = ? AND state = ? AND spec_hash = ?",
                    (len(plan.items), now, job_id, SELECTING, plan.spec.digest()),
                ).rowcount
                if changed != 1:
                    raise BulkJobError(
                        f"job {job_id} is not waiting for its selection (or has another spec)"
                    )
            db.executemany(
                "INSERT INTO items (job_id, seq, lead_id, name, before_state, before_status,"
                " target_state, target_status, status, skip_reason, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    (
                        job_id,
                        seq,
                        item.lead_id,
                        item.name,
                        item.before_state,
                        item.before_status,
                        item.target_state,
                        item.target_status,
                        "pending" if item.skip_reason is None else "skipped",
                        item.skip_reason,
                        now,
                    )
                    for seq, item in enumerate(plan.items)
                ),
            )
        return job_id

    def job(self, job_id: str) -> JobInfo:
        """Load a job's header; :class:`BulkJobError` if there is no such job."""
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, created_at, org_url, spec, selection, state, total"
                " FROM jobs WHERE job_id = ?",
                (job_id,),
            ).fetchone()
        if row is None:
            raise BulkJobError(f"no job {job_id!r} in the journal {self.path}")
        return self._job_info(row)

    @staticmethod
    def _job_info(row: Sequence[Any]) -> JobInfo:
        try:
            spec = JobSpec.from_json(json.loads(row[3]))
            selection = Selection.from_json(json.loads(row[4]))
        except (ValueError, KeyError, TypeError) as exc:
            raise BulkJobError(f"job {row[0]} in the journal is corrupt: {exc}") from exc
        return JobInfo(row[0], row[1], row[2], spec, selection, row[5], int(row[6]))

    def jobs(self) -> list[JobInfo]:
        """Every job, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, created_at, org_url, spec, selection, state, total"
                " FROM jobs ORDER BY created_at DESC, rowid DESC"
            ).fetchall()
        return [self._job_info(r) for r in rows]

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
        """Set the job state (``planned``, ``running``, ``finished``)."""
        self._write(
            "UPDATE jobs SET state = ?, updated_at = ? WHERE job_id = ?",
            [(state, _now(), job_id)],
        )

    # items

    def items(self, job_id: str, statuses: Sequence[str] | None = None) -> list[ItemRow]:
        """Items of a job in selection order, optionally only those in ``statuses``."""
        sql = (
            "SELECT seq, lead_id, name, before_state, before_status, target_state, target_status,"
            " status, skip_reason, attempts, http_status, error_code, error_message,"
            " after_state, after_status, path FROM items WHERE job_id = ?"
        )
        args: list[Any] = [job_id]
        if statuses is not None:
            sql += f" AND status IN ({','.join('?' for _ in statuses)})"
            args.extend(statuses)
        sql += " ORDER BY seq"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [ItemRow(*row) for row in rows]

    def iter_items(self, job_id: str) -> Iterator[ItemRow]:
        """All items of a job, in selection order."""
        yield from self.items(job_id)

    def counts(self, job_id: str) -> dict[str, int]:
        """Number of items per status."""
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*) FROM items WHERE job_id = ? GROUP BY status", (job_id,)
            ).fetchall()
        counts = dict.fromkeys(ITEM_STATUSES, 0)
        counts.update({status: int(n) for status, n in rows})
        return counts

    def mark_inflight(
        self, job_id: str, lead_ids: Sequence[str], *, identity: str | None = None
    ) -> None:
        """Commit that these items are about to be sent by ``identity`` (count the attempt)."""
        now = _now()
        sql = (
            "UPDATE items SET status = 'inflight', attempts = attempts + 1, updated_at = ?,"
            " identity = COALESCE(?, identity) WHERE job_id = ? AND lead_id"
        )
        with self._transaction() as db:
            _update_each(db, sql, (now, identity, job_id), lead_ids)

    def counts_by_identity(self, job_id: str) -> dict[str, dict[str, int]]:
        """Items per identity that last sent them, per status (unsent items are left out)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT identity, status, COUNT(*) FROM items WHERE job_id = ?"
                " AND identity IS NOT NULL GROUP BY identity, status",
                (job_id,),
            ).fetchall()
        result: dict[str, dict[str, int]] = {}
        for identity, status, n in rows:
            result.setdefault(identity, dict.fromkeys(ITEM_STATUSES, 0))[status] = int(n)
        return result

    def record(self, job_id: str, outcomes: Sequence[ItemOutcome]) -> None:
        """Commit outcomes (one transaction for the whole list)."""
        if not outcomes:
            return
        now = _now()
        groups = group_outcomes(outcomes)
        sql = (
            "UPDATE items SET status = ?, http_status = ?, error_code = ?, error_message = ?,"
            " after_state = COALESCE(?, after_state), after_status = COALESCE(?, after_status),"
            " path = COALESCE(?, path), updated_at = ? WHERE job_id = ? AND lead_id"
        )
        with self._transaction() as db:
            if groups is None:
                db.executemany(
                    sql + " = ?", [(*o.written(), now, job_id, o.lead_id) for o in outcomes]
                )
                return
            for values, ids in groups.items():
                _update_each(db, sql, (*values, now, job_id), ids)


_IN_LIMIT = 500  # bound parameters per statement (old SQLite builds allow 999)


def _update_each(
    db: sqlite3.Connection, sql: str, args: tuple[Any, ...], lead_ids: Sequence[str]
) -> None:
    """Run ``sql`` (ending in ``lead_id``) for each of ``lead_ids``, as few statements as can be.

    A lead listed twice is updated twice (as one statement per lead would), so such a list
    takes one statement per lead.
    """
    if len(set(lead_ids)) != len(lead_ids):
        db.executemany(sql + " = ?", [(*args, lead_id) for lead_id in lead_ids])
        return
    for start in range(0, len(lead_ids), _IN_LIMIT):
        part = lead_ids[start : start + _IN_LIMIT]
        db.execute(f"{sql} IN ({','.join('?' * len(part))})", (*args, *part))
