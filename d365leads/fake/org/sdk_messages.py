"""The ``sdkmessage`` and ``sdkmessagefilter`` tables: which messages each table supports.

Clients ask Dataverse whether a table supports the bulk operation messages before they send
them, as Microsoft's samples do (``IsMessageAvailable``) with a query such as
``sdkmessagefilters?$select=sdkmessagefilterid&$expand=sdkmessageid($select=name)
&$filter=sdkmessageid/name eq 'UpdateMultiple' and primaryobjecttypecode eq 'lead'``
(https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations#availability-with-standard-tables).
The fake seeds one ``sdkmessage`` row per message it knows and one ``sdkmessagefilter`` row per
(message, table) it answers: the plain messages for every table, the bulk messages only for the
tables in ``FakeOptions.bulk_message_tables``.  The ids are derived from the org URL, so they are
the same on every run.
"""

from __future__ import annotations

from collections.abc import Iterable

from .identity import org_guid
from .sdk_tables import SDK_MESSAGE, SDK_MESSAGE_FILTER
from .store import Store

__all__ = [
    "BULK_MESSAGES",
    "PLAIN_MESSAGES",
    "SDK_MESSAGE",
    "SDK_MESSAGE_FILTER",
    "seed_sdk_messages",
]

BULK_MESSAGES: tuple[str, ...] = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")
"""The bulk operation messages the fake implements (bound to an entity set)."""

PLAIN_MESSAGES: tuple[str, ...] = ("Create", "Retrieve", "RetrieveMultiple", "Update", "Delete")
"""Messages every table of the fake answers."""

_BOUND: dict[str, tuple[str, ...]] = {"QualifyLead": ("lead",)}


def _message_tables(tables: Iterable[str], bulk_tables: Iterable[str]) -> dict[str, list[str]]:
    every = list(tables)
    bulk = [t for t in bulk_tables if t in every]
    out: dict[str, list[str]] = {m: every for m in PLAIN_MESSAGES}
    out.update({m: bulk for m in BULK_MESSAGES})
    out.update({m: [t for t in ts if t in every] for m, ts in _BOUND.items()})
    return out


def seed_sdk_messages(
    store: Store, org_url: str, tables: Iterable[str], bulk_tables: Iterable[str]
) -> None:
    """Insert the ``sdkmessage`` rows and the ``sdkmessagefilter`` rows of ``tables``.

    ``bulk_tables`` are the tables whose filters include the bulk operation messages.
    """
    for message, supported in _message_tables(tables, bulk_tables).items():
        message_id = org_guid(org_url, f"sdkmessage:{message}")
        store.insert(
            "sdkmessage",
            {
                "sdkmessageid": message_id,
                "name": message,
                "categoryname": "Bulk" if message in BULK_MESSAGES else None,
                "isprivate": False,
            },
        )
        for logical in supported:
            store.insert(
                "sdkmessagefilter",
                {
                    "sdkmessagefilterid": org_guid(
                        org_url, f"sdkmessagefilter:{message}:{logical}"
                    ),
                    "name": f"{message} {logical}",
                    "sdkmessageid": message_id,
                    "primaryobjecttypecode": logical,
                    "secondaryobjecttypecode": "none",
                    "iscustomprocessingstepallowed": True,
                    "isvisible": True,
                },
            )
