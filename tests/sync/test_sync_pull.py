"""sync pull against the fake (SQLite and PostgreSQL): first load, incremental, expiry, crash."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from d365leads.client import DataverseClient
from d365leads.errors import ServerError, SyncError
from d365leads.fake import FakeDataverse
from d365leads.fake.core.clock import ManualClock
from d365leads.fake.core.options import FakeOptions
from d365leads.http.pipeline import Page
from d365leads.sync import PageDone, SyncTarget, pull
from d365leads.sync.pull import DeltaTokenExpiredError, prefetch
from d365leads.sync.state import load_position
from d365leads.sync.status import sync_status

DAY = 86400.0


def _seed_leads(fake: FakeDataverse, n: int, *, account: str | None = None) -> list[str]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {
            "subject": f"Inquiry {i}",
            "firstname": f"Ana{i}",
            "lastname": f"Lee{i}",
            "emailaddress1": f"ana{i}@example.com",
            "revenue": 1000.5 + i,
            "numberofemployees": i,
        }
        if account is not None and i % 2 == 0:
            row["parentaccountid"] = account
        rows.append(row)
    return fake.seed("lead", rows)


def _mirror(target: SyncTarget, *cols: str) -> dict[str, tuple[Any, ...]]:
    table = target.existing_table("lead")
    assert table is not None
    with target.connect() as conn:
        result = conn.execute(sa.select(table.c.leadid, *(table.c[c] for c in cols)))
        return {r[0]: tuple(r[1:]) for r in result}


def _delta_gets(fake: FakeDataverse) -> list[str]:
    return [r.url for r in fake.requests("GET", "leads") if "$deltatoken" in r.url]


def test_first_load_mirrors_every_row_with_types_labels_and_lookups(
    fake: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    account = fake.seed("account", [{"name": "Contoso"}])[0]
    ids = _seed_leads(fake, 23, account=account)
    with SyncTarget(db_url) as target:
        result = pull(client, target, ["lead"], page_size=10)
        [lead] = result.tables
        assert (lead.mode, lead.kind, lead.upserted, lead.pages) == ("delta", "full", 23, 3)
        rows = _mirror(
            target,
            "subject",
            "statecode",
            "statecode_label",
            "statuscode_label",
            "parentaccountid",
            "revenue",
            "numberofemployees",
            "_raw",
            "_deleted_at",
        )
    assert set(rows) == set(ids)
    first = rows[ids[0]]
    assert first[:5] == ("Inquiry 0", 0, "Open", "New", account)
    assert first[5] == pytest.approx(1000.5)
    assert first[6] == 0
    raw = first[7] if isinstance(first[7], dict) else json.loads(first[7])
    assert raw["leadid"] == ids[0] and raw["emailaddress1"] == "ana0@example.com"
    assert rows[ids[1]][4] is None
    assert all(r[8] is None for r in rows.values())
    # The initial read asked for change tracking, so the last page carried the delta link.
    first_get = fake.requests("GET", "leads")[0]
    assert "odata.track-changes" in (first_get.header("Prefer") or "")


def test_incremental_applies_creates_updates_state_changes_and_deletes(
    fake: FakeDataverse, client: DataverseClient, db_url: str, clock: ManualClock
) -> None:
    ids = _seed_leads(fake, 30)
    with SyncTarget(db_url) as target:
        pull(client.session, target, ["lead"], page_size=10)
        clock.advance(3600)
        new_id = client.records.create("leads", {"subject": "New one", "lastname": "Novak"})
        client.records.update("leads", ids[0], {"subject": "Changed"})
        client.records.update("leads", ids[1], {"statecode": 2, "statuscode": 6})
        client.records.delete("leads", ids[2])
        before = len(fake.requests())
        result = pull(client.session, target, ["lead"], page_size=10)
        [lead] = result.tables
        assert (lead.kind, lead.upserted, lead.deleted) == ("incremental", 3, 1)
        # Only the changes travelled: one delta request, nothing else.
        assert len(fake.requests()) - before == 1
        rows = _mirror(target, "subject", "statecode_label", "statuscode_label", "_deleted_at")
        assert target.count("lead") == (30, 1)
        [status] = sync_status(target)
    assert rows[new_id][:2] == ("New one", "Open")
    assert rows[ids[0]][0] == "Changed"
    assert rows[ids[1]][1:3] == ("Disqualified", "No Longer Interested")
    assert rows[ids[2]][3] is not None  # tombstone kept
    assert rows[ids[3]][3] is None
    assert (status.table, status.rows, status.tombstones, status.mode) == ("lead", 30, 1, "delta")
    assert status.last_sync_at is not None and status.phase == "idle"


def test_remove_mode_deletes_rows_instead_of_tombstones(
    fake: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    ids = _seed_leads(fake, 5)
    with SyncTarget(db_url) as target:
        pull(client.session, target, ["lead"], delete_mode="remove")
        client.records.delete("leads", ids[0])
        result = pull(client.session, target, ["lead"], delete_mode="remove")
        assert result.tables[0].deleted == 1
        assert ids[0] not in _mirror(target)
        assert target.count("lead") == (4, 0)


def test_expired_delta_token_runs_an_announced_full_resync(
    fake: FakeDataverse, client: DataverseClient, db_url: str, clock: ManualClock
) -> None:
    ids = _seed_leads(fake, 12)
    notices: list[tuple[str, str]] = []
    with SyncTarget(db_url) as target:
        pull(client.session, target, ["lead"], page_size=5)
        client.records.delete("leads", ids[0])
        client.records.update("leads", ids[1], {"subject": "Edited while away"})
        clock.advance(fake.options.change_retention_days * DAY + 60)
        result = pull(
            client.session,
            target,
            ["lead"],
            page_size=5,
            notify=lambda t, m: notices.append((t, m)),
        )
        [lead] = result.tables
        assert lead.kind == "full"
        assert lead.full_resync_reason == "the delta token expired"
        assert any("expired" in m and "full resync" in m for _, m in notices)
        rows = _mirror(target, "subject", "_deleted_at")
        # The deleted lead was not seen by the full resync: it became a tombstone.
        assert rows[ids[0]][1] is not None
        assert rows[ids[1]] == ("Edited while away", None)
        assert target.count("lead") == (11, 1)
        # And the next run is incremental again, from the fresh delta link.
        again = pull(client.session, target, ["lead"], page_size=5)
        assert (again.tables[0].kind, again.tables[0].upserted) == ("incremental", 0)


def test_expired_token_can_stop_instead_of_resyncing(
    fake: FakeDataverse, client: DataverseClient, db_url: str, clock: ManualClock
) -> None:
    _seed_leads(fake, 3)
    with SyncTarget(db_url) as target:
        pull(client, target, ["lead"])
        clock.advance(fake.options.change_retention_days * DAY + 60)
        with pytest.raises(DeltaTokenExpiredError, match="expired"):
            pull(client, target, ["lead"], auto_resync=False)
        [status] = sync_status(target)
        assert status.phase == "idle" and "DeltaTokenExpiredError" in (status.last_error or "")
        assert target.count("lead") == (3, 0)


class _FailingTarget(SyncTarget):
    """A real target whose upsert raises on the n-th call (a crash inside the transaction)."""

    def __init__(self, url: str, fail_on: int) -> None:
        super().__init__(url)
        self.calls = 0
        self.fail_on = fail_on

    def upsert(self, conn: Any, table: Any, rows: Sequence[Any]) -> int:
        self.calls += 1
        if self.calls == self.fail_on:
            written = super().upsert(conn, table, rows)
            raise RuntimeError(f"disk full after writing {written} rows")
        return super().upsert(conn, table, rows)


def test_crash_inside_a_page_rolls_back_rows_and_position_together(
    fake: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    ids = _seed_leads(fake, 50)
    failing = _FailingTarget(db_url, fail_on=3)
    with failing, pytest.raises(RuntimeError, match="disk full"):
        pull(client.session, failing, ["lead"], page_size=10)
    with SyncTarget(db_url) as target:
        # Pages 1 and 2 are committed; page 3's rows were rolled back with its position.
        assert target.count("lead") == (20, 0)
        with target.connect() as conn:
            pos = load_position(conn, "lead")
        assert pos is not None and pos.phase == "full" and pos.pass_rows == 20
        assert pos.next_link is not None
        page_links = [r.url for r in fake.requests("GET", "leads")]
        assert pos.next_link == page_links[2]  # the link of page 3, not beyond
        before = len(fake.requests("GET", "leads"))
        result = pull(client.session, target, ["lead"], page_size=10)
        [lead] = result.tables
        assert lead.resumed and lead.kind == "full"
        assert lead.upserted == 30  # pages 3..5 only: nothing re-read, nothing lost
        assert len(fake.requests("GET", "leads")) - before == 3
        assert fake.requests("GET", "leads")[before].url == pos.next_link
        assert set(_mirror(target)) == set(ids)
        assert target.count("lead") == (50, 0)


def test_failed_request_between_pages_resumes_with_no_loss_or_duplicate(
    fake: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    ids = _seed_leads(fake, 40)

    def crash_after_page_two(done: PageDone) -> None:
        if done.page == 2:
            fake.faults.server_errors(1, status=500, method="GET")

    with SyncTarget(db_url) as target:
        with pytest.raises(ServerError):
            # No read-ahead here, so the fault lands exactly on the request for page 3.
            pull(
                client.session,
                target,
                ["lead"],
                page_size=10,
                progress=crash_after_page_two,
                prefetch=False,
            )
        assert target.count("lead") == (20, 0)
        with target.connect() as conn:
            pos = load_position(conn, "lead")
        assert pos is not None and pos.pass_rows == 20 and pos.next_link
        [failed] = sync_status(target)
        assert failed.phase == "full" and "ServerError" in (failed.last_error or "")
        result = pull(client.session, target, ["lead"], page_size=10)
        assert result.tables[0].resumed
        assert result.tables[0].upserted == 20
        assert sync_status(target)[0].last_error is None
        assert set(_mirror(target)) == set(ids)
        # Later changes still arrive through the delta link the resumed pass stored.
        client.records.update("leads", ids[5], {"subject": "after resume"})
        inc = pull(client.session, target, ["lead"], page_size=10)
        assert (inc.tables[0].kind, inc.tables[0].upserted) == ("incremental", 1)


@pytest.fixture
def untracked_options() -> FakeOptions:
    return FakeOptions(change_tracking_tables=("account", "contact", "opportunity"))


def test_table_without_change_tracking_falls_back_to_watermark(
    clock: ManualClock, untracked_options: FakeOptions, db_url: str
) -> None:
    from d365leads.auth import StaticTokenProvider

    fake = FakeDataverse(options=untracked_options, clock=clock, sleep=lambda _s: None)
    ids = _seed_leads(fake, 8)
    notices: list[str] = []
    with (
        fake.mock(),
        DataverseClient(
            fake.org_url, token_provider=StaticTokenProvider("t"), sleep=lambda _s: None
        ) as client,
        SyncTarget(db_url) as target,
    ):
        first = pull(client.session, target, ["lead"], notify=lambda _t, m: notices.append(m))
        assert (first.tables[0].mode, first.tables[0].upserted) == ("watermark", 8)
        assert not first.tables[0].deletes_captured
        assert any("deletes are NOT captured" in m for m in notices)
        clock.advance(3600)
        client.records.update("leads", ids[0], {"subject": "moved on"})
        new_id = client.records.create("leads", {"subject": "fresh", "lastname": "X"})
        client.records.delete("leads", ids[1])
        second = pull(client.session, target, ["lead"])
        [lead] = second.tables
        assert (lead.kind, lead.upserted, lead.unchanged, lead.deleted) == (
            "incremental",
            2,
            6,
            0,
        )
        watermark_get = fake.requests("GET", "leads")[-1]
        assert "modifiedon ge 2026-01-05T08:55:00Z" in watermark_get.url.replace("%20", " ")
        rows = _mirror(target, "subject", "_deleted_at")
        assert rows[ids[0]][0] == "moved on" and rows[new_id][0] == "fresh"
        assert rows[ids[1]][1] is None  # the delete is not seen in watermark mode
        third = pull(client.session, target, ["lead"])
        assert (third.tables[0].upserted, third.tables[0].unchanged) == (0, 2)
        # A --full pass is what finds deletes in this mode.
        full = pull(client.session, target, ["lead"], full=True)
        assert full.tables[0].deleted == 1
        assert [s.mode for s in sync_status(target)] == ["watermark"]
        # Once change tracking is turned on, the next full pass switches to delta mode.
        fake.options.change_tracking_tables = ("lead",)
        tracked = pull(client.session, target, ["lead"], full=True)
        assert (tracked.tables[0].mode, tracked.tables[0].deletes_captured) == ("delta", True)
        client.records.delete("leads", ids[2])
        after = pull(client.session, target, ["lead"])
        assert (after.tables[0].kind, after.tables[0].deleted) == ("incremental", 1)
    assert not fake.errors


def test_watermark_pass_resumes_from_its_saved_page_and_advances_the_watermark(
    clock: ManualClock, untracked_options: FakeOptions, db_url: str
) -> None:
    from d365leads.auth import StaticTokenProvider

    fake = FakeDataverse(options=untracked_options, clock=clock, sleep=lambda _s: None)
    ids = _seed_leads(fake, 6)

    def fail_after_page_two(done: PageDone) -> None:
        if done.kind == "incremental" and done.page == 2:
            fake.faults.server_errors(1, status=500, method="GET")

    with (
        fake.mock(),
        DataverseClient(
            fake.org_url, token_provider=StaticTokenProvider("t"), sleep=lambda _s: None
        ) as client,
        SyncTarget(db_url) as target,
    ):
        pull(client.session, target, ["lead"], page_size=2)
        with target.connect() as conn:
            before = load_position(conn, "lead")
        assert before is not None and before.mode == "watermark" and before.watermark
        for rid in ids[:4]:
            clock.advance(60)
            client.records.update("leads", rid, {"subject": f"changed {rid}"})
        newest = fake.get("lead", ids[3])
        assert newest is not None
        # Ordered by modifiedon: the 2 unchanged rows, then the 4 changed ones, 2 a page.
        with pytest.raises(ServerError):
            pull(
                client.session,
                target,
                ["lead"],
                page_size=2,
                progress=fail_after_page_two,
                prefetch=False,
            )
        with target.connect() as conn:
            mid = load_position(conn, "lead")
        assert mid is not None and mid.phase == "incremental" and mid.next_link
        assert mid.watermark == before.watermark  # only a finished pass moves it
        assert mid.pass_rows == 2 and mid.pass_watermark is not None
        resumed = pull(client.session, target, ["lead"], page_size=2)
        [lead] = resumed.tables
        assert lead.resumed and (lead.kind, lead.upserted, lead.unchanged) == (
            "incremental",
            2,
            0,
        )
        with target.connect() as conn:
            after = load_position(conn, "lead")
        assert after is not None and after.phase == "idle" and after.next_link is None
        assert after.pass_watermark is None and after.pass_rows == 4
        assert after.watermark is not None and after.watermark > mid.pass_watermark
        assert (
            after.watermark.isoformat()
            .replace("+00:00", "Z")
            .startswith(str(newest["modifiedon"])[:19])
        )
        subjects = _mirror(target, "subject")
        assert all(subjects[rid][0] == f"changed {rid}" for rid in ids[:4])
    assert not fake.errors


def test_bad_arguments_are_refused_before_any_request(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Any
) -> None:
    with SyncTarget(f"sqlite:///{tmp_path / 'm.db'}") as target:
        with pytest.raises(SyncError, match="cannot sync table 'widgets'"):
            pull(client.session, target, ["widgets"])
        with pytest.raises(SyncError, match="not a column name"):
            pull(client.session, target, ["lead"], select=["bad name!"])
        with pytest.raises(SyncError, match="delete mode"):
            pull(client.session, target, ["lead"], delete_mode="shred")  # type: ignore[arg-type]
    assert fake.requests() == []


def test_prefetch_reads_one_page_ahead_and_raises_errors_in_order() -> None:
    fetched: list[int] = []

    def pages() -> Iterator[Page]:
        for i in range(1, 6):
            if i == 4:
                raise ServerError("page 4 failed", status=500)
            fetched.append(i)
            yield Page(rows=[{"n": i}])

    seen: list[int] = []
    with pytest.raises(ServerError, match="page 4 failed"):
        for page in prefetch(pages()):
            seen.append(page.rows[0]["n"])
    assert seen == [1, 2, 3]

    fetched.clear()
    reader = prefetch(pages())
    first = next(reader)
    reader.close()  # the consumer stops early: the worker ends, a bounded read-ahead
    assert first.rows == [{"n": 1}] and fetched in ([1], [1, 2], [1, 2, 3])


def test_pull_over_a_real_http_server(db_url: str, clock: ManualClock) -> None:
    from d365leads.auth import StaticTokenProvider

    fake = FakeDataverse(clock=clock, sleep=lambda _s: None)
    ids = _seed_leads(fake, 12)
    server = fake.serve("127.0.0.1", 0)
    try:
        with (
            DataverseClient(
                server.url, token_provider=StaticTokenProvider("t"), sleep=lambda _s: None
            ) as client,
            SyncTarget(db_url) as target,
        ):
            first = pull(client, target, ["lead"], page_size=5)
            assert (first.tables[0].upserted, first.tables[0].pages) == (12, 3)
            fake.store.delete("lead", ids[0])
            second = pull(client, target, ["lead"], page_size=5)
            assert (second.tables[0].kind, second.tables[0].deleted) == ("incremental", 1)
            assert target.count("lead") == (11, 1)
    finally:
        server.close()
    assert not fake.errors


def test_raw_holds_each_row_as_it_came_on_the_wire(
    fake: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    text = 'Café "quoted" \\ back ✓ \u2028 end'
    ids = fake.seed("lead", [{"subject": text, "lastname": f"Lee{i}"} for i in range(7)])
    with SyncTarget(db_url) as target:
        pull(client, target, ["lead"], page_size=3)
        stored = {rid: raw for rid, (raw,) in _mirror(target, "_raw").items()}
    # The same rows read as plain pages (parsed by json.loads) with the pull's own query.
    [get] = fake.requests("GET", "leads")[:1]
    select = get.url.split("$select=", 1)[1].split("&", 1)[0]
    pages = client.session.iter_pages(
        "leads",
        params={"$select": select.replace("%2C", ",")},
        prefer=[get.header("Prefer") or ""],
    )
    wire = {row["leadid"]: row for page in pages for row in page.rows}
    assert set(stored) == set(ids) == set(wire)
    for rid, raw in stored.items():
        value = raw if isinstance(raw, dict) else json.loads(raw)
        assert value == wire[rid]
        assert value["subject"] == text
        assert "modifiedon@OData.Community.Display.V1.FormattedValue" in value
