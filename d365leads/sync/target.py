"""The database a sync writes to, through SQLAlchemy Core (one code path for every dialect).

* SQLite (the default, ``sqlite:///d365leads.db``) runs in WAL mode so readers (a BI tool, the
  user's own SQL) can read while the sync commits page by page; upserts use
  ``INSERT ... ON CONFLICT DO UPDATE``.
* PostgreSQL (``postgresql://...``; the psycopg 3 driver is used when none is named) uses the same
  ``ON CONFLICT`` upsert and stores ``_raw`` as ``jsonb``.
* SQL Server (``mssql+pyodbc://...``) upserts with one ``MERGE ... WITH (HOLDLOCK)`` per row.

Tables are created on first use and extended when a newly selected column appears; columns are
never dropped or retyped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DataError, NoSuchModuleError, SQLAlchemyError

from d365leads.errors import ConfigError, SyncError
from d365leads.pg_waits import PgWaits
from d365leads.sync.checkpoint import WAL_PAGES_BEFORE_CHECKPOINT, BackgroundCheckpoint
from d365leads.sync.prepared_upsert import PreparedUpsert, supports_prepared_upsert
from d365leads.sync.raw_refusal import find_refused_document
from d365leads.sync.state import STATE_TABLE, metadata_for_state
from d365leads.sync.tables import ColumnKind, ColumnSpec, PlannedRows, TableSpec

__all__ = [
    "DEFAULT_URL",
    "META_COLUMNS",
    "SYNC_PG_WAITS",
    "SyncTarget",
    "build_mirror_table",
    "mssql_merge_sql",
]

DEFAULT_URL = "sqlite:///d365leads.db"
"""The default target: an SQLite file in the current directory."""

SYNC_PG_WAITS = PgWaits(statement_s=300.0)
"""A PostgreSQL target's waits: the defaults, but a statement may run 5 minutes (a page's
upsert into a large indexed table, adding a column)."""

META_COLUMNS = ("_raw", "_synced_at", "_deleted_at", "_sync_gen")
"""Bookkeeping columns of every mirrored table."""

_JSON = sa.JSON().with_variant(pg.JSONB(), "postgresql")
# NTEXT is deprecated on SQL Server; NVARCHAR without a length renders as NVARCHAR(max).
_TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")
_MONEY = sa.Numeric(19, 4, asdecimal=False).with_variant(sa.Float(), "sqlite")
_DECIMAL = sa.Numeric(38, 10, asdecimal=False).with_variant(sa.Float(), "sqlite")


def _column_type(kind: ColumnKind) -> Any:
    if kind in ("guid", "lookup", "customer", "owner"):
        return sa.String(36)
    if kind in ("int", "choice", "state", "status"):
        return sa.Integer()
    if kind == "bigint":
        return sa.BigInteger()
    if kind == "money":
        return _MONEY
    if kind == "decimal":
        return _DECIMAL
    if kind == "float":
        return sa.Float()
    if kind == "bool":
        return sa.Boolean()
    if kind == "datetime":
        return sa.DateTime(timezone=True)
    if kind == "date":
        return sa.Date()
    return _TEXT


def _storage_columns(spec: TableSpec, col: ColumnSpec) -> list[sa.Column[Any]]:
    out: list[sa.Column[Any]] = []
    if col.name == spec.primary_key:
        out.append(sa.Column(col.name, sa.String(36), primary_key=True))
    else:
        out.append(sa.Column(col.name, _column_type(col.kind), nullable=True))
    if col.label_column:
        out.append(sa.Column(col.label_column, _TEXT, nullable=True))
    if col.type_column:
        out.append(sa.Column(col.type_column, sa.String(100), nullable=True))
    return out


def build_mirror_table(
    spec: TableSpec, columns: Sequence[ColumnSpec], metadata: sa.MetaData | None = None
) -> sa.Table:
    """The SQLAlchemy table mirroring ``spec`` with ``columns`` (plus the bookkeeping columns)."""
    md = metadata if metadata is not None else sa.MetaData()
    cols: list[sa.Column[Any]] = []
    if not any(c.name == spec.primary_key for c in columns):
        cols.append(sa.Column(spec.primary_key, sa.String(36), primary_key=True))
    for col in columns:
        cols.extend(_storage_columns(spec, col))
    cols += [
        sa.Column("_raw", _JSON, nullable=True),
        sa.Column("_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("_sync_gen", sa.Integer(), nullable=True),
    ]
    return sa.Table(spec.logical_name, md, *cols)


def _normalise_url(url: str) -> sa.URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise SyncError(
            f"not a database URL: {url!r}; use sqlite:///file.db, postgresql://user@host/db "
            "or mssql+pyodbc://..."
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the driver we ship with; SQLAlchemy's default would be psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def mssql_merge_sql(table: sa.Table, columns: Sequence[str], key: str, dialect: Any) -> str:
    """SQL Server ``MERGE`` upserting one row bound as ``:<column>`` parameters."""
    q = dialect.identifier_preparer.quote
    name = dialect.identifier_preparer.format_table(table)
    src = ", ".join(f":{c} AS {q(c)}" for c in columns)
    updates = ", ".join(f"tgt.{q(c)} = src.{q(c)}" for c in columns if c != key)
    insert_cols = ", ".join(q(c) for c in columns)
    insert_vals = ", ".join(f"src.{q(c)}" for c in columns)
    return (
        f"MERGE INTO {name} WITH (HOLDLOCK) AS tgt USING (SELECT {src}) AS src "
        f"ON tgt.{q(key)} = src.{q(key)} "
        f"WHEN MATCHED THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({insert_cols}) VALUES ({insert_vals});"
    )


class SyncTarget:
    """A database holding mirrored tables and the sync position of each one.

    ``SyncTarget(url)`` accepts any SQLAlchemy URL; ``None`` means :data:`DEFAULT_URL`.
    Use it as a context manager (or call :meth:`close`) to release connections.
    """

    def __init__(
        self, url: str | None = None, *, engine: Engine | None = None, waits: PgWaits | None = None
    ) -> None:
        """``waits`` bounds a PostgreSQL target's waits on its server (default
        :data:`SYNC_PG_WAITS`); the URL's query (``?statement_timeout=600``) wins over it."""
        self._checkpoint: BackgroundCheckpoint | None = None
        if engine is None:
            parsed = _normalise_url(url or DEFAULT_URL)
            sqlite_file = ""
            if parsed.get_backend_name() == "sqlite":
                database = parsed.database or ""
                if database and database != ":memory:" and not database.startswith("file:"):
                    sqlite_file = os.path.abspath(database)
                    folder = os.path.dirname(os.path.abspath(database))
                    if not os.path.isdir(folder):
                        raise SyncError(
                            f"the folder of the SQLite file {database!r} does not exist; "
                            "create it or pass another --db"
                        )
            try:
                if parsed.get_backend_name() == "postgresql":
                    engine = (waits or SYNC_PG_WAITS).engine(parsed)[0]
                else:
                    engine = sa.create_engine(parsed)
            except ConfigError as exc:
                raise SyncError(f"bad database URL: {exc}") from exc
            except (NoSuchModuleError, ImportError, ArgumentError) as exc:
                raise SyncError(
                    f"cannot open {parsed.render_as_string(hide_password=True)}: {exc}; "
                    "install the database driver (psycopg for PostgreSQL, pyodbc for SQL Server)"
                ) from exc
            if engine.dialect.name == "sqlite":
                sa.event.listen(engine, "connect", _sqlite_on_connect)
                if sqlite_file:
                    self._checkpoint = BackgroundCheckpoint(sqlite_file)
                    sa.event.listen(engine, "connect", _checkpoint_later)
        self.engine = engine
        self.dialect = engine.dialect.name
        self._tables: dict[str, sa.Table] = {}
        self._upserts: dict[tuple[sa.Table, tuple[str, ...]], PreparedUpsert] = {}
        self._planned: dict[
            tuple[sa.Table, tuple[str, ...], frozenset[str], frozenset[str]], PreparedUpsert
        ] = {}
        self._ready = False

    def __repr__(self) -> str:
        return f"SyncTarget({self.url!r})"

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def __enter__(self) -> SyncTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every pooled connection (after a last WAL checkpoint of an SQLite file)."""
        if self._checkpoint is not None:
            self._checkpoint.close()
        self.engine.dispose()

    # --- connections -------------------------------------------------------------------------

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        self.prepare()
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise SyncError(f"database error on {self.url}: {exc}") from exc
        if self._checkpoint is not None:
            self._checkpoint.poke()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise SyncError(f"database error on {self.url}: {exc}") from exc

    def prepare(self) -> None:
        """Create the sync position table if it does not exist yet."""
        if self._ready:
            return
        try:
            metadata_for_state().create_all(self.engine, checkfirst=True)
        except SQLAlchemyError as exc:
            raise SyncError(f"cannot prepare {self.url}: {exc}") from exc
        self._ready = True

    def has_state_table(self) -> bool:
        """True when this database has held a sync before."""
        try:
            return sa.inspect(self.engine).has_table(STATE_TABLE)
        except SQLAlchemyError as exc:
            raise SyncError(f"cannot read {self.url}: {exc}") from exc

    # --- schema ------------------------------------------------------------------------------

    def mirror_table(self, spec: TableSpec, columns: Sequence[ColumnSpec]) -> sa.Table:
        """The mirror of ``spec``, created or extended so it holds every column of ``columns``.

        Returns a table object describing every column the database has (old ones included).
        """
        self.prepare()
        wanted = build_mirror_table(spec, columns)
        try:
            with self.engine.begin() as conn:
                inspector = sa.inspect(conn)
                if not inspector.has_table(spec.logical_name):
                    wanted.create(conn)
                    existing = [c.name for c in wanted.columns]
                else:
                    existing = [c["name"] for c in inspector.get_columns(spec.logical_name)]
                    for col in wanted.columns:
                        if col.name not in existing:
                            self._add_column(conn, wanted, col)
                            existing.append(col.name)
        except SQLAlchemyError as exc:
            raise SyncError(f"cannot create or extend table {spec.logical_name!r}: {exc}") from exc
        # Describe the whole table: wanted columns typed by us, unknown old ones as text.
        md = sa.MetaData()
        cols: list[sa.Column[Any]] = []
        for name in existing:
            if name in wanted.c:
                src = wanted.c[name]
                cols.append(sa.Column(name, src.type, primary_key=src.primary_key))
            else:
                cols.append(sa.Column(name, _TEXT))
        table = sa.Table(spec.logical_name, md, *cols)
        self._tables[spec.logical_name] = table
        return table

    def _add_column(self, conn: Connection, table: sa.Table, col: sa.Column[Any]) -> None:
        ddl = str(sa.schema.CreateColumn(col).compile(dialect=conn.dialect))
        keyword = "ADD" if conn.dialect.name == "mssql" else "ADD COLUMN"
        name = conn.dialect.identifier_preparer.format_table(table)
        conn.execute(sa.text(f"ALTER TABLE {name} {keyword} {ddl}"))

    def existing_table(self, name: str) -> sa.Table | None:
        """The mirrored table ``name`` as it is in the database, or ``None``."""
        try:
            insp = sa.inspect(self.engine)
            if not insp.has_table(name):
                return None
            return sa.Table(name, sa.MetaData(), autoload_with=self.engine)
        except SQLAlchemyError as exc:
            raise SyncError(f"cannot read table {name!r}: {exc}") from exc

    # --- writes ------------------------------------------------------------------------------

    def upsert(
        self, conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]] | PlannedRows
    ) -> int:
        """Insert or update ``rows`` by primary key; every row must have the same keys.

        :class:`~d365leads.sync.tables.PlannedRows` (value lists of a row plan, changed in
        place) go to the table's prepared statement as they are.
        """
        if not rows:
            return 0
        if isinstance(rows, PlannedRows):
            return self._upsert_planned(conn, table, rows)
        keys = list(rows[0])
        pk = next(iter(table.primary_key.columns)).name
        dialect = conn.dialect.name
        if supports_prepared_upsert(conn.dialect):
            # Compiled once per table and column set: each page goes to executemany as tuples.
            cache_key = (table, tuple(keys))
            prepared = self._upserts.get(cache_key)
            if prepared is None:
                prepared = PreparedUpsert(table, keys, conn.dialect)
                self._upserts[cache_key] = prepared
            prepared.run(conn, rows)
        elif dialect == "mssql":
            sql = sa.text(mssql_merge_sql(table, keys, pk, conn.dialect)).bindparams(
                *[sa.bindparam(k, type_=table.c[k].type) for k in keys]
            )
            conn.execute(sql, list(rows))
        else:
            # Any other dialect: update what exists, insert the rest (same transaction).
            ids = [r[pk] for r in rows]
            present = set(
                conn.execute(sa.select(table.c[pk]).where(table.c[pk].in_(ids))).scalars()
            )
            updates = [r for r in rows if r[pk] in present]
            inserts = [r for r in rows if r[pk] not in present]
            if inserts:
                conn.execute(sa.insert(table), inserts)
            for row in updates:
                values = {k: v for k, v in row.items() if k != pk}
                conn.execute(sa.update(table).where(table.c[pk] == row[pk]).values(values))
        return len(rows)

    def _upsert_planned(self, conn: Connection, table: sa.Table, rows: PlannedRows) -> int:
        keys, json_text = rows.keys, rows.json_text
        if not supports_prepared_upsert(conn.dialect):
            texts = [i for i, k in enumerate(keys) if k in json_text]
            dicts = []
            for row in rows:
                for i in texts:
                    row[i] = None if row[i] is None else json.loads(row[i])
                dicts.append(dict(zip(keys, row, strict=True)))
            return self.upsert(conn, table, dicts)
        cache_key = (table, keys, json_text, rows.stored)
        prepared = self._planned.get(cache_key)
        if prepared is None:
            prepared = PreparedUpsert(
                table, keys, conn.dialect, json_text=json_text, stored=rows.stored
            )
            self._planned[cache_key] = prepared
        try:
            return prepared.run_lists(conn, rows)
        except DataError as exc:
            if not json_text or conn.dialect.name != "postgresql":
                raise
            pk = next(iter(table.primary_key.columns)).name
            refused = find_refused_document(self.engine, keys, rows, pk, json_text)
            if refused is None:
                raise
            raise SyncError(
                f"table {table.name!r}, row {refused.row_id}: the database refused its "
                f"{refused.column} JSON document: {refused.reason}; the page was not stored"
            ) from exc

    def delete_ids(
        self, conn: Connection, table: sa.Table, ids: Sequence[str], *, at: datetime, remove: bool
    ) -> int:
        """Tombstone (``_deleted_at = at``) or remove the rows ``ids``; returns rows affected."""
        if not ids:
            return 0
        pk = next(iter(table.primary_key.columns))
        total = 0
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            if remove:
                result = conn.execute(sa.delete(table).where(pk.in_(chunk)))
            else:
                result = conn.execute(
                    sa.update(table)
                    .where(pk.in_(chunk), table.c["_deleted_at"].is_(None))
                    .values(_deleted_at=at)
                )
            total += result.rowcount or 0
        return total

    def sweep_unseen(
        self, conn: Connection, table: sa.Table, generation: int, *, at: datetime, remove: bool
    ) -> int:
        """Rows a full pass of ``generation`` did not see: tombstone or remove them."""
        gen = table.c["_sync_gen"]
        unseen = sa.or_(gen.is_(None), gen < generation)
        if remove:
            result = conn.execute(sa.delete(table).where(unseen))
        else:
            result = conn.execute(
                sa.update(table)
                .where(unseen, table.c["_deleted_at"].is_(None))
                .values(_deleted_at=at)
            )
        return result.rowcount or 0

    def stored_values(
        self, conn: Connection, table: sa.Table, column: str, ids: Sequence[str]
    ) -> dict[str, Any]:
        """``{id: value of column}`` for the stored, not deleted rows among ``ids``."""
        if not ids:
            return {}
        pk = next(iter(table.primary_key.columns))
        out: dict[str, Any] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            query = sa.select(pk, table.c[column]).where(
                pk.in_(chunk), table.c["_deleted_at"].is_(None)
            )
            for rid, value in conn.execute(query):
                out[rid] = value
        return out

    def count(self, name: str) -> tuple[int, int]:
        """``(live rows, tombstones)`` of the mirrored table ``name`` (0, 0 when missing)."""
        table = self.existing_table(name)
        if table is None:
            return 0, 0
        deleted = table.c["_deleted_at"]
        query = sa.select(
            sa.func.sum(sa.case((deleted.is_(None), 1), else_=0)),
            sa.func.sum(sa.case((deleted.is_not(None), 1), else_=0)),
        )
        with self.connect() as conn:
            live, dead = conn.execute(query).one()
        return int(live or 0), int(dead or 0)


def _checkpoint_later(dbapi_conn: Any, _record: Any) -> None:
    # BackgroundCheckpoint checkpoints after each commit; SQLite's own stays as a safety net.
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES_BEFORE_CHECKPOINT}")
    finally:
        cursor.close()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()
