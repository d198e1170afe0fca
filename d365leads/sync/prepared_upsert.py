"""One upsert statement per mirrored table, compiled once and run with plain tuples.

SQLAlchemy's ``Connection.execute`` builds a parameter dict and runs every type's bind
processor for each row of each page; for a mirror that is most of the time spent per row. Here
the ``INSERT ... ON CONFLICT DO UPDATE`` of a table is compiled once for a fixed column order,
the bind processors are looked up once (and kept only for the columns that have one: text and
integer columns pass through untouched), and each page goes to the driver's ``executemany``
through ``Connection.exec_driver_sql``.

On SQLite ``_raw`` is written as compact JSON (no blanks after separators); it reads back
through the same JSON type as before. A JSON column named in ``json_text`` receives JSON text
instead (a row's text as it came on the wire, see :mod:`d365leads.http.page_text`), and both
dialects store that text as it is: SQLite keeps it verbatim, PostgreSQL parses it server-side
through the statement's own ``::JSONB`` cast, so no row is parsed and encoded again in Python
and ``jsonb`` holds the same document as when the parsed value was sent.

Columns named in ``stored`` hold values already in SQLite's stored form (a row plan made them,
see :mod:`d365leads.sync.tables.stored_form`): their processors are skipped. On SQLite a page
goes to the sqlite3 cursor's ``executemany`` directly (the DBAPI connection under the
SQLAlchemy one, so the same transaction), its errors raised as SQLAlchemy's would be.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

__all__ = ["PreparedUpsert", "supports_prepared_upsert"]

_Processor = Callable[[Any], Any]


def supports_prepared_upsert(dialect: Dialect) -> bool:
    """True for the dialects with a native ``ON CONFLICT`` upsert (SQLite and PostgreSQL)."""
    return dialect.name in ("sqlite", "postgresql")


# One encoder for every row: ``json.dumps`` with options builds a new encoder on each call.
# A wire row decoded from JSON holds no reference cycles, so the cycle check is skipped (same
# text, less work per nested value).
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def _compact_json(value: Any) -> Any:
    if value is None:
        return "null"
    return _ENCODE(value)


class PreparedUpsert:
    """The upsert of ``table`` for rows carrying exactly ``keys``, compiled for ``dialect``."""

    def __init__(
        self,
        table: sa.Table,
        keys: Sequence[str],
        dialect: Dialect,
        *,
        json_text: Collection[str] = (),
        stored: Collection[str] = (),
    ) -> None:
        if not supports_prepared_upsert(dialect):
            raise ValueError(f"no prepared upsert for the {dialect.name} dialect")
        self.keys = tuple(keys)
        pk = next(iter(table.primary_key.columns)).name
        insert = sqlite.insert(table) if dialect.name == "sqlite" else pg.insert(table)
        stmt = insert.values({k: self._bind(table.c[k], k in json_text, dialect) for k in keys})
        stmt = stmt.on_conflict_do_update(
            index_elements=[pk], set_={k: stmt.excluded[k] for k in self.keys if k != pk}
        )
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self._positional = bool(dialect.positional)
        self._sqlite = dialect.name == "sqlite"
        order = list(compiled.positiontup or []) if self._positional else list(self.keys)
        if sorted(order) != sorted(self.keys):
            raise ValueError(f"the compiled upsert binds {order}, not {list(self.keys)}")
        self._order = tuple(order)
        self._get = itemgetter(*order)
        processors: list[tuple[int, _Processor]] = []
        for index, name in enumerate(order):
            col_type = table.c[name].type
            is_json = isinstance(col_type, sa.JSON)
            if is_json and name in json_text:
                continue  # text, bound as it is (see _bind)
            if name in stored and dialect.name == "sqlite" and not is_json:
                continue  # already as SQLite stores it
            if dialect.name == "sqlite" and is_json:
                processors.append((index, _compact_json))
                continue
            proc = col_type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                processors.append((index, proc))
        self._processors = tuple(processors)
        # run_lists: processors by position in a value list of ``keys``, then one itemgetter
        # per row puts the values in the statement's order (SQLAlchemy orders an INSERT's
        # columns as the table declares them, not as ``keys`` lists them).
        at = {name: i for i, name in enumerate(self.keys)}
        self._list_processors = tuple((at[order[i]], proc) for i, proc in processors)
        self._in_order = itemgetter(*(at[name] for name in order))

    @staticmethod
    def _bind(column: sa.Column[Any], is_text: bool, dialect: Dialect) -> Any:
        if not (is_text and isinstance(column.type, sa.JSON)):
            return sa.bindparam(column.name, type_=column.type)
        if dialect.name == "sqlite":
            # SQLite's JSON is stored text: the wire text is already what it would hold.
            return sa.bindparam(column.name, type_=sa.UnicodeText())
        # The text goes to the server as text and is parsed there, once, by the cast.
        return sa.cast(sa.bindparam(column.name, type_=sa.UnicodeText()), pg.JSONB())

    def params(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver parameters of one row, in the statement's order."""
        values = self._get(row)
        if len(self._order) == 1:
            values = (values,)
        if not self._processors:
            return tuple(values)
        out = list(values)
        for index, proc in self._processors:
            out[index] = proc(out[index])
        return tuple(out)

    def run_lists(self, conn: Connection, rows: Sequence[list[Any]]) -> int:
        """Upsert ``rows`` given as value lists in :attr:`keys` order (changed in place)."""
        if not rows:
            return 0
        processors = self._list_processors
        if processors:
            for row in rows:
                for index, proc in processors:
                    row[index] = proc(row[index])
        in_order = self._in_order
        if len(self._order) == 1:
            params = [(in_order(row),) for row in rows]
        else:
            params = [in_order(row) for row in rows]
        if self._sqlite:
            self._executemany(conn, params)
        elif self._positional:
            conn.exec_driver_sql(self.sql, params)
        else:
            conn.exec_driver_sql(self.sql, [dict(zip(self._order, p, strict=True)) for p in params])
        return len(rows)

    def _executemany(self, conn: Connection, params: list[Any]) -> None:
        """Run the page on the sqlite3 cursor of ``conn``'s own DBAPI connection (its
        transaction); a driver error is raised as SQLAlchemy raises it from ``execute``."""
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, params)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(
                self.sql,
                params,
                exc,
                sqlite3.Error,
                hide_parameters=conn.engine.hide_parameters,
                dialect=conn.dialect,
                ismulti=True,
            ) from exc
        finally:
            cursor.close()

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Upsert ``rows`` (each with exactly :attr:`keys`); returns how many were sent."""
        if not rows:
            return 0
        tuples = [self.params(row) for row in rows]
        if self._positional:
            conn.exec_driver_sql(self.sql, tuples)
        else:
            conn.exec_driver_sql(self.sql, [dict(zip(self._order, t, strict=True)) for t in tuples])
        return len(rows)
