"""The lead-lifecycle demo: a guided tour against the built-in fake Dataverse (no tenant).

``d365leads demo`` starts the fake as a real HTTP server on 127.0.0.1 (a free port), seeds it
with a few hundred realistic leads and walks through the lifecycle with the same public API a
script would use: My Open Leads, qualify (account, contact, opportunity and their links),
disqualify with different reasons, the Closed Leads view, a bulk reactivation with a progress
bar (:mod:`d365leads.bulk`) and a sync into a local SQLite file (:mod:`d365leads.sync`).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from d365leads.auth import StaticTokenProvider
from d365leads.bulk import (
    JobSpec,
    Journal,
    Selection,
    create_bulk_job,
    plan_bulk_job,
    run_bulk_job,
)
from d365leads.bulk.progress import ProgressDisplay
from d365leads.cli.present import link_rows, lookup_text, status_label
from d365leads.client import DataverseClient
from d365leads.errors import DataverseError
from d365leads.models import DisqualifyReason, Lead, LeadState, LeadStatus
from d365leads.odata.query import Query, col
from d365leads.sync import SyncTarget, pull
from d365leads.sync.status import sync_status

__all__ = ["DemoResult", "run_demo"]

#: Simulated round-trip time per request unless ``fast`` (a nearby cloud region).
DEMO_LATENCY_MS = 10.0
_TOKEN = "demo-token"
_DISQUALIFY = (
    DisqualifyReason.LOST,
    DisqualifyReason.CANNOT_CONTACT,
    DisqualifyReason.NO_LONGER_INTERESTED,
)


@dataclass
class DemoResult:
    """What the demo did, for callers and tests."""

    org_url: str = ""
    workdir: Path | None = None
    open_leads: int = 0
    qualified_lead: str = ""
    created: dict[str, str] = field(default_factory=dict)
    links_ok: bool = False
    disqualified: dict[str, int] = field(default_factory=dict)
    closed_leads: int = 0
    reactivated: int = 0
    bulk_failed: int = 0
    owners_kept: bool = False
    synced: dict[str, int] = field(default_factory=dict)
    database: Path | None = None


def _title(text: str) -> str:
    return text.replace("_", " ").title()


def _leads_table(title: str, leads: Sequence[Lead], *, with_owner: bool = True) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("name")
    table.add_column("company")
    table.add_column("topic")
    table.add_column("status")
    if with_owner:
        table.add_column("owner")
    for lead in leads:
        cells = [
            lead.fullname or "",
            lead.companyname or "",
            lead.subject or "",
            status_label(lead),
        ]
        if with_owner:
            cells.append(lookup_text(lead.ownerid) or "")
        table.add_row(*cells)
    return table


def _step(console: Console, number: int, title: str, text: str) -> None:
    console.print()
    console.rule(f"[bold]{number}. {title}", align="left")
    console.print(text)


def run_demo(
    console: Console,
    *,
    workdir: Path | None = None,
    fast: bool = False,
    progress_stream: Any = None,
) -> DemoResult:
    """Run the whole tour, printing to ``console``; returns what happened.

    ``workdir`` receives the bulk job journal and the SQLite mirror (default: a new temporary
    directory that is kept so the files can be explored). ``fast`` turns off the simulated
    network latency.
    """
    from d365leads.fake import FakeDataverse, FakeOptions

    result = DemoResult()
    folder = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="d365leads-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    result.workdir = folder

    fake = FakeDataverse(options=FakeOptions(latency_ms=0.0 if fast else DEMO_LATENCY_MS))
    seeded = fake.seed_demo_data()
    with (
        fake.serve(host="127.0.0.1", port=0) as server,
        DataverseClient(server.url, token_provider=StaticTokenProvider(_TOKEN)) as client,
    ):
        result.org_url = server.url
        console.print(
            Panel.fit(
                "[bold]d365leads demo[/]: the Dynamics 365 Sales lead lifecycle, end to end.\n"
                f"A fake Dataverse org is running at [cyan]{server.url}[/] with "
                f"{len(seeded.get('lead', []))} leads, {len(seeded.get('account', []))} accounts "
                f"and {len(seeded.get('contact', []))} contacts.\n"
                "Everything below goes through the real client over HTTP: no tenant, no set-up.",
                border_style="blue",
            )
        )
        me = client.whoami()
        console.print(f"Signed in as user [cyan]{me.user_id}[/] (WhoAmI).")

        _my_open_leads(console, client, result)
        _qualify(console, client, result)
        _disqualify(console, client, result)
        _closed_view(console, client, result)
        _bulk_reactivate(console, client, result, folder, progress_stream)
        _sync(console, client, result, folder)
    _next_steps(console, result)
    return result


def _my_open_leads(console: Console, client: DataverseClient, result: DemoResult) -> None:
    _step(
        console,
        1,
        "My Open Leads",
        "Open leads owned by you (client.leads.my_open()), newest first:",
    )
    query = Query("leads").order_by("createdon desc")
    mine = list(client.leads.my_open(query))
    result.open_leads = sum(1 for _ in client.leads.open(Query("leads").select("leadid")))
    shown = mine[:8]
    title = f"My open leads: {len(mine)}" + (f" (newest {len(shown)})" if len(mine) > 8 else "")
    console.print(_leads_table(title, shown, with_owner=False))
    console.print(f"Across all owners there are {result.open_leads} open leads.")


def _qualify(console: Console, client: DataverseClient, result: DemoResult) -> None:
    _step(
        console,
        2,
        "Qualify a lead",
        "Qualifying closes the lead as Qualified and creates an account (from the company), "
        "a contact (from the name) and an opportunity (from the topic), all linked together.",
    )
    candidates = client.leads.open(
        Query("leads")
        .where(col("companyname").is_not_null() & col("lastname").is_not_null())
        .where(col("_parentaccountid_value").is_null() & col("_parentcontactid_value").is_null())
        .order_by("createdon desc")
        .top(1)
    )
    lead = next(iter(candidates), None)
    if lead is None or lead.id is None:
        raise DataverseError("the demo data has no open lead with a company and a name")
    console.print(
        f"Qualifying [bold]{lead.fullname}[/] of [bold]{lead.companyname}[/]: "
        f"“{lead.subject}” (client.leads.qualify(id))"
    )
    outcome = client.leads.qualify(lead.id)
    records = {
        "account": outcome.account,
        "contact": outcome.contact,
        "opportunity": outcome.opportunity,
    }
    created = Table(title="Created", title_justify="left", header_style="bold")
    created.add_column("table")
    created.add_column("name")
    created.add_column("id")
    for table, record in records.items():
        if record is not None and record.id is not None:
            result.created[table] = str(record.id)
            created.add_row(
                table, str(getattr(record, record.primary_name, "") or ""), str(record.id)
            )
    console.print(created)
    links = link_rows(records, lead.id)
    link_table = Table(title="Links", title_justify="left", header_style="bold")
    link_table.add_column("from")
    link_table.add_column("column")
    link_table.add_column("points to")
    link_table.add_column("")
    for row in links:
        target = f"{row['to']} {row['to_name'] or row['to_id']}"
        link_table.add_row(row["from"], row["column"], target, "[green]✓[/]" if row["ok"] else "")
    console.print(link_table)
    result.qualified_lead = str(lead.id)
    result.links_ok = bool(links) and any(
        r["from"] == "opportunity" and r["column"] == "originatingleadid" and r["ok"] for r in links
    )
    console.print(f"The lead is now [bold]{status_label(outcome.lead)}[/].")


def _disqualify(console: Console, client: DataverseClient, result: DemoResult) -> None:
    _step(
        console,
        3,
        "Disqualify leads",
        "A disqualified lead is never deleted: it stays, inactive, with the reason "
        "(client.leads.disqualify(id, DisqualifyReason.LOST)).",
    )
    candidates = list(
        client.leads.open(
            Query("leads").where(col("statuscode") == LeadStatus.NEW).order_by("createdon").top(3)
        )
    )
    table = Table(header_style="bold")
    table.add_column("lead")
    table.add_column("reason")
    table.add_column("status now")
    for lead, reason in zip(candidates, _DISQUALIFY, strict=False):
        # the listed lead is passed whole: its state is known, so it is not read again
        after = client.leads.disqualify(lead, reason)
        result.disqualified[str(lead.id)] = int(reason)
        table.add_row(lead.fullname or str(lead.id), _title(reason.name), status_label(after))
    console.print(table)


def _closed_view(console: Console, client: DataverseClient, result: DemoResult) -> None:
    _step(
        console,
        4,
        "The Closed Leads view",
        "Every qualified or disqualified lead (client.leads.closed()):",
    )
    closed = list(client.leads.closed(Query("leads").order_by("modifiedon desc")))
    result.closed_leads = len(closed)
    counts = Counter(status_label(lead) for lead in closed)
    summary = Table(header_style="bold")
    summary.add_column("state/status")
    summary.add_column("leads", justify="right")
    for label, count in sorted(counts.items()):
        summary.add_row(label, str(count))
    console.print(summary)
    console.print(_leads_table("Most recently closed", closed[:5]))


def _bulk_reactivate(
    console: Console,
    client: DataverseClient,
    result: DemoResult,
    folder: Path,
    progress_stream: Any,
) -> None:
    reason = DisqualifyReason.NO_LONGER_INTERESTED
    _step(
        console,
        5,
        "Bulk reactivation",
        f"Bring back every “{_title(reason.name)}” lead at once: the job is planned (a dry run "
        "stops here), journalled in SQLite so it can resume after a crash, then sent in "
        "$batch requests. Each lead keeps its owner, so it reappears in their My Open Leads.",
    )
    selection = Selection(
        filter=f"statecode eq {LeadState.DISQUALIFIED.value} and statuscode eq {reason.value}",
        description=f"{_title(reason.name)} leads",
    )
    owners_before = {
        str(lead.id): lead.ownerid.id if lead.ownerid else None
        for lead in client.leads.list(selection.filter, select=["leadid", "_ownerid_value"])
    }
    plan = plan_bulk_job(client.session, JobSpec.reactivate(LeadStatus.NEW), selection)
    to_write = len(plan.to_write)
    requests = plan.requests
    console.print(
        f"Plan: {to_write} leads to reactivate in about {requests} "
        f"request{'s' if requests != 1 else ''}."
    )
    journal_path = folder / "bulk-jobs.sqlite"
    with Journal(journal_path) as journal:
        job_id = create_bulk_job(client.session, journal, plan, selection)
        stream = progress_stream if progress_stream is not None else console.file
        with ProgressDisplay(to_write, stream=stream, enabled=True) as display:
            summary = run_bulk_job(client.session, journal, job_id, on_progress=display.update)
    figures = summary.to_json()
    counts = figures["counts"]
    result.reactivated = int(counts.get("done", 0))
    result.bulk_failed = int(counts.get("failed", 0))
    table = Table(title=f"Job {job_id}", title_justify="left", header_style="bold")
    for name in ("done", "failed", "skipped", "requests", "requests/record", "429s"):
        table.add_column(name, justify="right")
    table.add_row(
        str(counts.get("done", 0)),
        str(counts.get("failed", 0)),
        str(counts.get("skipped", 0)),
        str(figures["requests"]),
        str(figures["requests_per_record"] or "-"),
        str(figures["throttled"]),
    )
    console.print(table)
    left = sum(1 for _ in client.leads.list(selection.filter, select=["leadid"]))
    mine_again = 0
    owner_kept = 0
    me = client.whoami().user_id
    ids = [item.lead_id for item in plan.to_write]
    after = client.leads.list(
        col("leadid").in_(ids), select=["leadid", "statecode", "_ownerid_value"]
    )
    for lead in after:
        owner = lead.ownerid.id if lead.ownerid else None
        if lead.statecode is LeadState.OPEN and owner == owners_before.get(str(lead.id)):
            owner_kept += 1
            mine_again += str(owner) == me
    result.owners_kept = owner_kept == to_write
    console.print(
        f"“{_title(reason.name)}” leads left: {left}. {owner_kept} of {to_write} are open again "
        f"with their original owner ({mine_again} back in your My Open Leads).\n"
        f"Journal (for resume and reports): {journal_path}"
    )


def _sync(console: Console, client: DataverseClient, result: DemoResult, folder: Path) -> None:
    database = folder / "mirror.sqlite"
    _step(
        console,
        6,
        "Sync to SQLite",
        "Mirror leads, accounts, contacts and opportunities into a local database with change "
        "tracking (the next run only fetches what changed):",
    )
    with SyncTarget(f"sqlite:///{database}") as target:
        pulled = pull(client.session, target)
        status = {s.table: s.rows for s in sync_status(target)}
    table = Table(header_style="bold")
    table.add_column("table")
    table.add_column("rows written", justify="right")
    table.add_column("rows in mirror", justify="right")
    table.add_column("mode")
    for item in pulled.tables:
        table.add_row(item.table, str(item.upserted), str(status.get(item.table, 0)), item.mode)
        result.synced[item.table] = status.get(item.table, 0)
    console.print(table)
    console.print(f"Database: {database}")
    console.print(f'Try: sqlite3 {database} "select statuscode, count(*) from lead group by 1"')
    result.database = database


def _next_steps(console: Console, result: DemoResult) -> None:
    console.print()
    console.rule("[bold]Where to go next", align="left")
    console.print(
        "• Point it at your tenant: [bold]d365leads auth login --url "
        "https://<org>.crm.dynamics.com --device-code[/]\n"
        "• Your leads: [bold]d365leads leads list --mine[/], "
        "[bold]d365leads leads qualify ID[/], "
        "[bold]d365leads leads disqualify ID --reason lost[/]\n"
        "• Thousands at once: [bold]d365leads bulk --help[/]; a local mirror: "
        "[bold]d365leads sync --help[/]\n"
        "• Your own fake for tests: [bold]d365leads fake serve --demo-data[/] "
        "(or the fake_dataverse pytest fixture)\n"
        "• In Python: [bold]DataverseClient.from_env().leads.my_open()[/]"
    )
    if result.workdir is not None:
        console.print(f"The demo's files are in {result.workdir} (delete it when done).")
