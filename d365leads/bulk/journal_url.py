"""Open the job journal a ``--journal`` value names: a SQLite file, or a PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path

from d365leads.bulk.journal import Journal
from d365leads.bulk.journal_pg import PgJournal, is_database_url
from d365leads.bulk.journal_protocol import JobJournal

__all__ = ["open_journal"]


def open_journal(where: str | Path | None) -> JobJournal:
    """``postgresql://...`` opens the shared journal; anything else is a SQLite file path.

    ``None`` is the default SQLite file in the user data directory.
    """
    if isinstance(where, str) and is_database_url(where):
        return PgJournal(where)
    return Journal(where)
