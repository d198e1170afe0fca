"""PostgreSQL parses each row's wire text to ``jsonb`` itself; a document it refuses is named."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from d365leads.client import DataverseClient
from d365leads.errors import SyncError
from d365leads.fake import FakeDataverse
from d365leads.sync import SyncTarget, pull
from d365leads.sync.state import load_position

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _raws(target: SyncTarget) -> dict[str, object]:
    table = target.existing_table("lead")
    assert table is not None
    with target.connect() as conn:
        return dict(conn.execute(sa.select(table.c.leadid, table.c["_raw"])).all())


def test_jsonb_keeps_numbers_and_text_of_the_wire(
    fake: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    rows = [
        {"subject": "Ünïcode ✓ \U0001f600 \t tab", "lastname": "Lee", "revenue": 12345.678},
        {"subject": 'quote " and \\ slash', "lastname": "Kim", "revenue": 0.1},
    ]
    ids = fake.seed("lead", rows)
    with SyncTarget(db_url) as target:
        pull(client, target, ["lead"], page_size=1)
        stored = _raws(target)
        with target.connect() as conn:
            kind = conn.exec_driver_sql("SELECT DISTINCT jsonb_typeof(_raw) FROM lead").scalar_one()
    assert kind == "object"  # a document, not a JSON string holding the text
    assert set(stored) == set(ids)
    for rid, row in zip(ids, rows, strict=True):
        raw = stored[rid]
        assert isinstance(raw, dict)
        assert raw["subject"] == row["subject"] and raw["revenue"] == row["revenue"]
        assert raw["leadid"] == rid


def test_a_refused_document_names_table_and_row_and_stores_nothing_of_its_page(
    fake: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    # PostgreSQL's jsonb has no \u0000 in text although JSON allows it: the server refuses it.
    subjects = [f"Inquiry {i}" if i != 3 else "nul \x00 here" for i in range(6)]
    ids = fake.seed("lead", [{"subject": s, "lastname": f"L{i}"} for i, s in enumerate(subjects)])
    bad = ids[3]
    with SyncTarget(db_url) as target:
        with pytest.raises(SyncError) as caught:
            pull(client, target, ["lead"], page_size=2)
        message = str(caught.value)
        assert "'lead'" in message and bad in message and "_raw" in message
        assert "Unicode" in message  # the server's reason, not the document
        stored = _raws(target)
        with target.connect() as conn:
            pos = load_position(conn, "lead")
        assert pos is not None and pos.phase == "full"
        # Pages before the refused one are committed with their position; its page is not.
        assert bad not in stored and len(stored) == pos.pass_rows
        assert len(stored) % 2 == 0 and len(stored) < len(ids)
        assert pos.last_error is not None and bad in pos.last_error
