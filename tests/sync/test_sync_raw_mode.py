"""sync pull with raw="none": the same typed mirror without _raw; switching reloads in full."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from d365leads.client import DataverseClient
from d365leads.errors import SyncError
from d365leads.fake import FakeDataverse
from d365leads.sync import SyncTarget, pull

NOW = datetime(2026, 12, 3, 22, 0, tzinfo=timezone.utc)


def _rows(target: SyncTarget) -> dict[str, dict[str, Any]]:
    table = target.existing_table("lead")
    assert table is not None
    with target.connect() as conn:
        return {r.leadid: dict(r._mapping) for r in conn.execute(sa.select(table))}


def test_a_mirror_without_raw_holds_the_same_typed_columns_and_null_raw(
    fake: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    account = fake.seed("account", [{"name": "Contoso"}])[0]
    fake.seed(
        "lead",
        [
            {"subject": f"Lead {i}", "revenue": 5.5 * i, "parentaccountid": account}
            if i % 2
            else {"subject": f"Lead {i}", "donotemail": True}
            for i in range(15)
        ],
    )
    notes: list[str] = []

    def note(_table: str, message: str) -> None:
        notes.append(message)

    with SyncTarget(db_url) as target:
        pull(client, target, ["lead"], page_size=4, clock=lambda: NOW)
        full = _rows(target)
        # Leaving _raw out reloads the table in full (the same rows, each without its text).
        result = pull(
            client, target, ["lead"], page_size=4, clock=lambda: NOW, raw="none", notify=note
        )
        [lead] = result.tables
        assert (lead.kind, lead.upserted) == ("full", 15)
        assert lead.full_resync_reason == "the _raw setting changed"
        narrow = _rows(target)
        assert set(narrow) == set(full)
        for lead_id, row in narrow.items():
            assert row.pop("_raw") is None
            expected = dict(full[lead_id])
            assert expected.pop("_raw") is not None
            assert expected.pop("_sync_gen") + 1 == row.pop("_sync_gen")
            assert row == expected
        # The next run with raw="none" is incremental; asking for _raw again reloads in full.
        assert pull(client, target, ["lead"], raw="none").tables[0].kind == "incremental"
        again = pull(client, target, ["lead"], page_size=4, notify=note)
        assert (again.tables[0].kind, again.tables[0].upserted) == ("full", 15)
        assert all(r["_raw"] is not None for r in _rows(target).values())
    assert [n for n in notes if "_raw is now" in n] == [
        "_raw is now 'none'; reloading the table in full",
        "_raw is now 'full'; reloading the table in full",
    ]


def test_an_unknown_raw_mode_is_refused_before_any_request(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    with (
        SyncTarget(f"sqlite:///{tmp_path / 'm.db'}") as target,
        pytest.raises(SyncError, match="raw must be 'full' or 'none'"),
    ):
        pull(client, target, ["lead"], raw="some")  # type: ignore[arg-type]
    assert fake.requests("GET", "leads") == []
