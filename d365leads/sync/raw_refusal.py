"""Which row's JSON text PostgreSQL refused, to name it when a page's upsert fails.

A page's upsert sends each row's JSON text as it came on the wire and lets the server parse it
to ``jsonb`` (see :mod:`d365leads.sync.prepared_upsert`). Text that Python's parser took can
still be refused there (``\\u0000`` in a string, a lone surrogate escape, a number beyond
``numeric``: https://www.postgresql.org/docs/current/datatype-json.html), and the failed
``executemany`` does not say which row it was. Only then, on a connection of its own (the
page's transaction has failed and is rolled back by its owner), the page's texts are cast one
by one until the first refused one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

__all__ = ["RefusedDocument", "find_refused_document"]

_CAST = "SELECT CAST(%(text)s AS jsonb) IS NULL"


class RefusedDocument:
    """The row whose ``column`` text the server refused, and the server's reason."""

    __slots__ = ("column", "reason", "row_id")

    def __init__(self, row_id: Any, column: str, reason: str) -> None:
        self.row_id = row_id
        self.column = column
        self.reason = reason


def _reason(exc: DBAPIError) -> str:
    # The primary message and detail only: the context line quotes the document itself.
    diag = getattr(exc.orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary:
        return str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
    detail = getattr(diag, "message_detail", None)
    return f"{primary} ({detail})" if detail else str(primary)


def find_refused_document(
    engine: Engine,
    keys: Sequence[str],
    rows: Sequence[Sequence[Any]],
    pk: str,
    json_text: Collection[str],
) -> RefusedDocument | None:
    """The first of ``rows`` (value lists in ``keys`` order) with JSON text the server refuses.

    ``None`` when every text is accepted (the page failed for another reason) or the check
    itself cannot run.
    """
    at_pk = keys.index(pk)
    texts = [(i, k) for i, k in enumerate(keys) if k in json_text]
    try:
        with engine.connect() as conn:
            for row in rows:
                for index, column in texts:
                    if row[index] is None:
                        continue
                    try:
                        conn.exec_driver_sql(_CAST, {"text": row[index]})
                    except DBAPIError as exc:
                        return RefusedDocument(row[at_pk], column, _reason(exc))
    except SQLAlchemyError:
        return None
    return None
