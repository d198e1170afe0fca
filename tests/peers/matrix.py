"""Every operation the peer suite runs, and whether the fake answers it today.

One row per (peer, operation).  ``gap`` is ``None`` when the operation works against the fake;
otherwise it names what the fake answers wrong, in the order the peer meets the problems (the
first one stops the peer; the later ones were seen with the earlier ones answered by hand).
:func:`case` turns a row into the test's mark: a gap is ``xfail(strict=True)``, so the suite
is green today and turns red the day the fake is fixed and the row still says "gap".  Fixing the
fake means editing the row here, never the test.

``python -m tests.peers.matrix`` (or :func:`markdown`) prints the table for the README.
``D365LEADS_PEERS_SHOW_GAPS=1 pytest tests/peers`` runs the gaps as plain tests, to see what
each one fails on today.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

__all__ = ["OPERATIONS", "PEERS", "USED", "Operation", "case", "find", "markdown"]

PEERS = {
    "sdk": "powerplatform-dataverse-client 1.1.0 (Microsoft)",
    "dataverse-api": "dataverse-api 1.4.3",
    "dynamics-client": "dynamics-client 0.8.4",
    "requests": "plain requests code",
}


def _then(*gaps: str) -> str:
    return "; then ".join(gaps)


@dataclass(frozen=True)
class Operation:
    """One thing a peer does, as its README shows it."""

    peer: str
    name: str
    gap: str | None = None

    @property
    def works(self) -> bool:
        return self.gap is None


def _op(peer: str, name: str, *gaps: str) -> Operation:
    return Operation(peer, name, _then(*gaps) if gaps else None)


OPERATIONS: tuple[Operation, ...] = (
    # Microsoft's SDK: every operation its README shows.
    _op("sdk", "records.create"),
    _op("sdk", "records.retrieve"),
    _op("sdk", "records.update"),
    _op("sdk", "records.delete"),
    _op("sdk", "records.create list (CreateMultiple)"),
    _op("sdk", "records.update list (UpdateMultiple)"),
    _op("sdk", "records.delete list (BulkDelete)"),
    _op("sdk", "records.delete list, one by one"),
    _op("sdk", "records.list select/filter/orderby/page_size"),
    _op("sdk", "records.list_pages select/filter/orderby/page_size"),
    _op("sdk", "records.upsert one (alternate key)"),
    _op("sdk", "records.upsert list (UpsertMultiple)"),
    _op("sdk", "query.builder execute"),
    _op("sdk", "query.builder execute_pages"),
    _op("sdk", "batch create/update/delete"),
    _op("sdk", "batch changeset"),
    _op("sdk", "tables.get"),
    _op("sdk", "tables.list"),
    _op("sdk", "dataframe round trip"),
    _op("sdk", "query.sql"),
    _op("sdk", "query.fetchxml"),
    # dataverse-api: its README's DataverseEntity operations.
    _op("dataverse-api", "entity (metadata)"),
    _op("dataverse-api", "get_entity_definition"),
    _op("dataverse-api", "read select/filter/order_by/page_size"),
    _op("dataverse-api", "create individual"),
    _op("dataverse-api", "create batch"),
    _op("dataverse-api", "create multiple (CreateMultiple)"),
    _op("dataverse-api", "upsert by primary id (update)"),
    _op("dataverse-api", "upsert batch"),
    _op("dataverse-api", "upsert by alternate key"),
    _op("dataverse-api", "delete ids"),
    _op("dataverse-api", "delete ids batch"),
    _op("dataverse-api", "delete by filter"),
    # dynamics-client: its README's get/post/patch/delete, paging and FetchXML.
    _op("dynamics-client", "get select/filter/orderby/top"),
    _op("dynamics-client", "get across pages"),
    _op("dynamics-client", "get one row"),
    _op("dynamics-client", "post (create)"),
    _op("dynamics-client", "patch (update)"),
    _op("dynamics-client", "delete"),
    _op("dynamics-client", "fetch_xml"),
    # Plain requests, written as a Python user would.
    _op("requests", "create (POST, OData-EntityId)"),
    _op("requests", "retrieve with params=$select"),
    _op("requests", "update (PATCH)"),
    _op("requests", "delete"),
    _op("requests", "query with params=$filter/$orderby"),
    _op("requests", "filter on a value with a literal +"),
    _op("requests", "follow @odata.nextLink"),
)

_BY_KEY = {(op.peer, op.name): op for op in OPERATIONS}
if len(_BY_KEY) != len(OPERATIONS):
    raise ValueError("tests/peers/matrix.py lists an operation twice")

USED: set[tuple[str, str]] = set()
"""Operations a test module has claimed with :func:`case` (checked by test_matrix.py)."""

F = TypeVar("F", bound=Callable[..., Any])


def find(peer: str, name: str) -> Operation:
    """The matrix row for one operation (KeyError naming it if the matrix lacks it)."""
    try:
        return _BY_KEY[(peer, name)]
    except KeyError:
        raise KeyError(f"tests/peers/matrix.py has no operation {name!r} for {peer!r}") from None


def case(peer: str, name: str) -> Callable[[F], F]:
    """Mark a test as the one that runs ``name`` for ``peer``: strict xfail while it is a gap."""
    operation = find(peer, name)
    USED.add((peer, name))

    def mark(test: F) -> F:
        if operation.gap is not None and not os.environ.get("D365LEADS_PEERS_SHOW_GAPS"):
            return pytest.mark.xfail(strict=True, reason=operation.gap)(test)
        return test

    return mark


def markdown() -> str:
    """The matrix as a Markdown table (peer | operation | status)."""
    lines = ["| Peer | Operation | Against the fake |", "|---|---|---|"]
    for op in OPERATIONS:
        status = "works" if op.gap is None else f"gap: {op.gap}"
        lines.append(f"| {PEERS[op.peer]} | {op.name} | {status} |")
    works = sum(op.works for op in OPERATIONS)
    lines.append("")
    lines.append(f"{works} of {len(OPERATIONS)} operations work.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
