"""A FetchXML mirror (``pull_fetchxml``) against both adapters of the fake and both databases:
full load, watermark passes with creates, updates in and out of the filter and deletes,
reconciliation, a run killed mid-way, and the checks made before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from d365leads.auth import StaticTokenProvider
from d365leads.client import DataverseClient
from d365leads.errors import InvalidInputError, ServerError, SyncError
from d365leads.fake import FakeDataverse, FakeOptions, ManualClock
from d365leads.sync import PageDone, SyncTarget, pull, pull_fetchxml
from d365leads.sync.pull import NO_TRACKING_NOTICE
from d365leads.sync.state import load_position

TARGET = (
    "<fetch version='1.0' mapping='logical'>\n"
    "  <entity name='lead'>\n"
    "    <attribute name='subject'/>\n"
    "    <attribute name='companyname'/>\n"
    "    <order attribute='subject' descending='true'/>\n"
    "    <filter type='and'>\n"
    "      <condition attribute='companyname' operator='eq' value='Target'/>\n"
    "    </filter>\n"
    "  </entity>\n"
    "</fetch>\n"
)


class Org:
    """The fake, its clock and a client bound to it (in-process or over HTTP)."""

    def __init__(self, fake: FakeDataverse, clock: ManualClock, client: DataverseClient) -> None:
        self.fake = fake
        self.clock = clock
        self.client = client

    def leads(self, company: str, n: int, prefix: str = "L") -> list[str]:
        ids = []
        for i in range(n):
            # one second apart: modifiedon orders them, as on a real org
            self.clock.advance(1)
            ids += self.fake.seed(
                "lead", [{"subject": f"{prefix}{i}", "lastname": "X", "companyname": company}]
            )
        return ids

    def later(self) -> None:
        self.clock.advance(60)


@pytest.fixture(params=["in-process", "server"])
def org(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[Org]:
    fake = FakeDataverse(options=FakeOptions(), clock=clock, sleep=lambda _s: None)
    token = StaticTokenProvider("test-token")
    if request.param == "in-process":
        with (
            fake.mock(),
            DataverseClient(fake.org_url, token_provider=token, sleep=lambda _s: None) as client,
        ):
            yield Org(fake, clock, client)
    else:
        with (
            fake.serve() as server,
            DataverseClient(server.url, token_provider=token, sleep=lambda _s: None) as client,
        ):
            yield Org(fake, clock, client)
    assert not fake.errors, f"the fake raised: {fake.errors!r}"


def _mirror(target: SyncTarget) -> dict[str, dict[str, Any]]:
    """Every mirrored lead by id: subject, companyname, _deleted_at."""
    table = target.existing_table("lead")
    assert table is not None
    query = sa.select(table.c.leadid, table.c.subject, table.c.companyname, table.c._deleted_at)
    with target.connect() as conn:
        return {
            r.leadid: {"subject": r.subject, "company": r.companyname, "gone": r._deleted_at}
            for r in conn.execute(query)
        }


def _live(target: SyncTarget) -> set[str]:
    return {rid for rid, row in _mirror(target).items() if row["gone"] is None}


def _fetch_gets(org: Org) -> list[str]:
    return [r.url for r in org.fake.requests("GET", "leads") if "fetchXml" in r.url]


def test_full_then_watermark_runs_then_reconciliation(org: Org, db_url: str) -> None:
    inside = org.leads("Target", 5)
    outside = org.leads("Other", 3, prefix="O")
    notices: list[str] = []
    with SyncTarget(db_url) as target:
        first = pull_fetchxml(
            org.client,
            target,
            TARGET,
            page_size=2,
            reconcile_every=0,
            clock=org.clock,
            notify=lambda _t, message: notices.append(message),
        )
        [lead] = first.tables
        assert (lead.mode, lead.kind, lead.upserted, lead.pages) == ("watermark", "full", 5, 3)
        assert lead.deletes_captured and lead.full_resync_reason == "first load"
        assert notices.count(NO_TRACKING_NOTICE) == 1
        assert _live(target) == set(inside)
        # the query's own order is replaced by modifiedon, then the primary key
        sent = unquote(_fetch_gets(org)[0])
        assert '<order attribute="modifiedon" descending="false" />' in sent
        assert 'descending="true"' not in sent

        # Between runs: a create and an update inside the filter, a row leaving it, a row
        # entering it, a delete.
        org.later()
        [created] = org.leads("Target", 1, prefix="new")
        org.client.records.update("leads", inside[0], {"subject": "changed"})
        org.client.records.update("leads", inside[1], {"companyname": "Elsewhere"})
        org.client.records.update("leads", outside[0], {"companyname": "Target"})
        org.client.records.delete("leads", inside[2])
        notices.clear()
        second = pull_fetchxml(
            org.client, target, TARGET, page_size=2, reconcile_every=0, clock=org.clock
        )
        [inc] = second.tables
        assert (inc.kind, inc.upserted, inc.deleted) == ("incremental", 3, 0)
        assert not inc.deletes_captured
        assert any("reconciliation pass" in n for n in inc.notices)
        rows = _mirror(target)
        assert rows[inside[0]]["subject"] == "changed"
        assert rows[outside[0]]["company"] == "Target" and created in rows
        # a watermark cannot see these two: they stay until a reconciliation
        assert rows[inside[1]]["gone"] is None and rows[inside[2]]["gone"] is None

        third = pull_fetchxml(
            org.client, target, TARGET, page_size=2, reconcile=True, clock=org.clock
        )
        [rec] = third.tables
        assert rec.deletes_captured and rec.deleted == 2 and rec.upserted == 0
        assert _live(target) == {created, outside[0], inside[0], inside[3], inside[4]}
        rows = _mirror(target)
        assert rows[inside[1]]["gone"] is not None and rows[inside[2]]["gone"] is not None

        # A row that leaves the filter and comes back is revived by the watermark pass.
        org.later()
        org.client.records.update("leads", inside[1], {"companyname": "Target"})
        back = pull_fetchxml(org.client, target, TARGET, reconcile_every=0, clock=org.clock)
        assert back.tables[0].upserted == 1 and inside[1] in _live(target)


def test_overlap_rereads_are_skipped_and_same_second_rows_are_not_lost(
    org: Org, db_url: str
) -> None:
    ids = org.leads("Target", 3)
    with SyncTarget(db_url) as target:
        pull_fetchxml(org.client, target, TARGET, clock=org.clock)
        # Two rows change in the same second as the watermark row (the clock has not moved):
        # with no overlap at all, "ge" still reads that second again.
        org.client.records.update("leads", ids[0], {"subject": "same second A"})
        org.client.records.update("leads", ids[1], {"subject": "same second B"})
        inc = pull_fetchxml(
            org.client, target, TARGET, overlap=timedelta(0), reconcile_every=0, clock=org.clock
        )
        [lead] = inc.tables
        assert lead.upserted == 2 and lead.unchanged == 1
        assert {_mirror(target)[i]["subject"] for i in ids[:2]} == {
            "same second A",
            "same second B",
        }
        again = pull_fetchxml(
            org.client, target, TARGET, overlap=timedelta(0), reconcile_every=0, clock=org.clock
        )
        assert (again.tables[0].upserted, again.tables[0].unchanged) == (0, 3)


def test_reconciliation_every_n_runs_and_remove_mode(org: Org, db_url: str) -> None:
    ids = org.leads("Target", 4)
    with SyncTarget(db_url) as target:
        pull_fetchxml(org.client, target, TARGET, reconcile_every=3, delete_mode="remove")
        org.client.records.delete("leads", ids[0])
        runs = [
            pull_fetchxml(org.client, target, TARGET, reconcile_every=3, delete_mode="remove")
            for _ in range(3)
        ]
        # the first load counts as a reconciliation; the third run after it reconciles
        assert [r.tables[0].deletes_captured for r in runs] == [False, False, True]
        assert [r.tables[0].deleted for r in runs] == [0, 0, 1]
        assert "the next one runs in 2 run(s)" in " ".join(runs[0].tables[0].notices)
        assert set(_mirror(target)) == set(ids[1:])  # removed, not tombstoned


def test_reconciliation_reads_rows_that_entered_the_filter_unseen(org: Org, db_url: str) -> None:
    """A relative date condition: rows enter the filter as time passes, modifiedon unchanged."""
    aged = (
        "<fetch><entity name='lead'><attribute name='subject'/><filter>"
        "<condition attribute='createdon' operator='older-than-x-months' value='1'/>"
        "</filter></entity></fetch>"
    )
    young = org.leads("Target", 2)
    org.clock.advance(600)
    old = org.fake.seed(
        "lead",
        [{"lastname": "Old", "createdon": (org.clock() - timedelta(days=60)).isoformat()}],
    )
    with SyncTarget(db_url) as target:
        first = pull_fetchxml(org.client, target, aged, clock=org.clock)
        assert first.tables[0].upserted == 1
        org.clock.advance(40 * 86400)
        plain = pull_fetchxml(org.client, target, aged, reconcile_every=0, clock=org.clock)
        assert plain.tables[0].upserted == 0  # modified before the watermark: unseen
        rec = pull_fetchxml(org.client, target, aged, reconcile=True, clock=org.clock)
        assert rec.tables[0].upserted == 2 and _live(target) == set(young + old)


def test_a_run_killed_mid_pass_resumes_with_nothing_lost(org: Org, db_url: str) -> None:
    ids = org.leads("Target", 9)

    def fail_after_page_two(done: PageDone) -> None:
        if done.page == 2:
            org.fake.faults.server_errors(1, status=500, method="GET")

    with SyncTarget(db_url) as target:
        with pytest.raises(ServerError):
            pull_fetchxml(org.client, target, TARGET, page_size=2, progress=fail_after_page_two)
        assert len(_live(target)) == 4
        with target.connect() as conn:
            pos = load_position(conn, "lead")
        assert pos is not None and pos.phase == "full" and pos.pass_watermark is not None
        before = len(_fetch_gets(org))
        resumed = pull_fetchxml(
            org.client, target, TARGET, page_size=2, overlap=timedelta(0), clock=org.clock
        )
        [lead] = resumed.tables
        assert lead.resumed and lead.kind == "full"
        # the resumed pass starts at the newest committed row, not at the first one
        assert len(_fetch_gets(org)) - before == 3
        assert lead.upserted == 6  # rows 4..9, the boundary row read again
        assert _live(target) == set(ids)

        # killed in an incremental pass: the next run finishes it
        org.later()
        for i in range(4):
            org.later()
            org.client.records.update("leads", ids[i], {"subject": f"v2-{i}"})
        with pytest.raises(ServerError):
            pull_fetchxml(
                org.client,
                target,
                TARGET,
                page_size=2,
                reconcile_every=0,
                progress=fail_after_page_two,
            )
        done = pull_fetchxml(
            org.client, target, TARGET, page_size=2, reconcile_every=0, clock=org.clock
        )
        assert done.tables[0].resumed and done.tables[0].kind == "incremental"
        assert {_mirror(target)[i]["subject"] for i in ids[:4]} == {f"v2-{i}" for i in range(4)}


def test_the_query_is_checked_before_anything_is_sent(org: Org, db_url: str) -> None:
    org.leads("Target", 1)
    before = len(org.fake.requests())
    cases: list[tuple[str, dict[str, Any], type[Exception], str]] = [
        ("<fetch>\n<entity name='lead'>\n</fetch>", {}, InvalidInputError, "line 3"),
        (TARGET.replace("'lead'", "'task'"), {}, SyncError, "the tables sync mirrors are"),
        (TARGET, {"table": "account"}, SyncError, "but the mirror is of 'account'"),
        (TARGET.replace("<fetch ", "<fetch top='5' "), {}, SyncError, "drop top"),
        (TARGET.replace("<fetch ", "<fetch aggregate='true' "), {}, SyncError, "aggregate"),
        (
            TARGET.replace("name='subject'/>", "name='subject' alias='s'/>"),
            {},
            SyncError,
            "drop the alias",
        ),
    ]
    with SyncTarget(db_url) as target:
        for xml, options, error, words in cases:
            with pytest.raises(error, match=words):
                pull_fetchxml(org.client, target, xml, **options)
        assert target.existing_table("lead") is None
    assert len(org.fake.requests()) == before


def test_changed_query_needs_rebuild_and_plain_mirrors_are_kept_apart(
    org: Org, db_url: str, tmp_path: Path
) -> None:
    inside = org.leads("Target", 2)
    outside = org.leads("Other", 2, prefix="O")
    other_query = TARGET.replace("value='Target'", "value='Other'")
    with SyncTarget(db_url) as target:
        pull_fetchxml(org.client, target, TARGET)
        # whitespace does not change the query; a value does
        same = pull_fetchxml(org.client, target, TARGET.replace("\n", "\n  "))
        assert same.tables[0].kind == "incremental"
        with pytest.raises(SyncError, match=r"built from another FetchXML.*--rebuild"):
            pull_fetchxml(org.client, target, other_query)
        with pytest.raises(SyncError, match="mirrors a FetchXML query"):
            pull(org.client, target, ["lead"])
        rebuilt = pull_fetchxml(org.client, target, other_query, rebuild=True)
        assert rebuilt.tables[0].full_resync_reason == "the FetchXML changed (--rebuild)"
        assert rebuilt.tables[0].deleted == 2
        assert _live(target) == set(outside)
        assert all(_mirror(target)[i]["gone"] is not None for i in inside)

    with SyncTarget(f"sqlite:///{tmp_path / 'plain.db'}") as plain:
        pull(org.client, plain, ["lead"])
        with pytest.raises(SyncError, match=r"mirrors the whole table.*--rebuild"):
            pull_fetchxml(org.client, plain, TARGET)
        pull_fetchxml(org.client, plain, TARGET, rebuild=True)
        assert _live(plain) == set(inside)
