"""Open the job journal a ``--journal`` value names: a SQLite file, or a PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path

from d365leads.bulk.journal import Journal
from d365leads.bulk.journal_pg import PgJournal, is_database_url
from d365leads.bulk.journal_protocol import JobJournal
from d365leads.pg_waits import PgWaits

__all__ = ["open_journal"]


def open_journal(where: str | Path | None, *, waits: PgWaits | None = None) -> JobJournal:
    """``postgresql://...`` opens the shared journal; anything else is a SQLite file path.

    ``None`` is the default SQLite file in the user data directory.  ``waits`` bounds a
    PostgreSQL journal's waits on its server (the URL's query, ``?statement_timeout=30``, wins).
    """
    if isinstance(where, str) and is_database_url(where):
        return PgJournal(where, waits=waits)
    return Journal(where)
