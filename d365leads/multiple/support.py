"""Which tables support the bulk operation messages, asked once per table and remembered.

Not every table supports CreateMultiple, UpdateMultiple and UpsertMultiple; Dataverse lists the
messages a table answers as ``sdkmessagefilter`` rows
(https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations#availability-with-standard-tables).
:class:`MessageSupport` reads them with one query per table (the filter's message comes along
through ``$expand=sdkmessageid($select=name)``) and caches the answer for the session's life.

Whether UpdateMultiple may change ``statecode``/``statuscode`` is not documented, so the
answer per table is learned from the first state change sent (:meth:`MessageSupport.learn_state`)
and callers say which path they took.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from d365leads.errors import HTTPError
from d365leads.odata.literals import literal

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["BULK_MESSAGES", "MessageSupport"]

BULK_MESSAGES = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


class MessageSupport:
    """The bulk messages each table supports (probed once per table, thread-safe)."""

    def __init__(self, session: ApiSession) -> None:
        self._session = session
        self._lock = threading.Lock()
        self._messages: dict[str, frozenset[str]] = {}
        self._state: dict[str, bool] = {}
        self.probes = 0
        """How many probe requests were sent."""
        self.reasons: dict[str, str] = {}
        """Why a table's probe found no bulk messages (an error answer), by table."""

    def messages(self, table: str) -> frozenset[str]:
        """The bulk messages ``table`` (logical name) supports; asks the org the first time."""
        with self._lock:
            known = self._messages.get(table)
            if known is not None:
                return known
            found = self._probe(table)
            self._messages[table] = found
            return found

    def supports(self, table: str, message: str) -> bool:
        """True when ``table`` answers ``message`` (``UpdateMultiple``…)."""
        return message in self.messages(table)

    def _probe(self, table: str) -> frozenset[str]:
        params = {
            "$select": "sdkmessagefilterid",
            "$expand": "sdkmessageid($select=name)",
            "$filter": f"primaryobjecttypecode eq {literal(table)}",
        }
        self.probes += 1
        names: set[str] = set()
        try:
            for page in self._session.iter_pages("sdkmessagefilters", params=params):
                for row in page.rows:
                    message = row.get("sdkmessageid")
                    if isinstance(message, dict) and message.get("name") in BULK_MESSAGES:
                        names.add(str(message["name"]))
        except HTTPError as exc:
            # An org that will not say (no read privilege on sdkmessagefilter, an old
            # version) gets $batch, which every org answers.
            self.reasons[table] = f"{exc.status} {exc.code} {exc}".strip()
            return frozenset()
        return frozenset(names)

    def state_in_update_multiple(self, table: str) -> bool | None:
        """Whether UpdateMultiple accepted ``statecode``/``statuscode`` on ``table``; ``None``
        until a state change has been tried."""
        with self._lock:
            return self._state.get(table)

    def learn_state(self, table: str, accepted: bool) -> None:
        """Remember whether UpdateMultiple accepts state changes on ``table``."""
        with self._lock:
            self._state[table] = accepted

    def __repr__(self) -> str:
        return f"MessageSupport(tables={sorted(self._messages)}, probes={self.probes})"
