"""``d365leads whoami`` and ``d365leads leads ...``: the lead lifecycle from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from d365leads.cli.assignments import parse_assignments
from d365leads.cli.context import State, pass_state
from d365leads.cli.errors import UsageProblem
from d365leads.cli.listing import ListOptions, limited, list_options
from d365leads.cli.params import StatusChoice
from d365leads.cli.present import LIST_COLUMNS, lead_row, link_rows, record_dict
from d365leads.cli.related import RELATED_COLUMNS, related_rows
from d365leads.cli.views import read_fetchxml_file
from d365leads.models import DisqualifyReason, Lead, LeadStatus, Lookup, parse_id

__all__ = ["leads", "whoami"]


def _guid(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Reject a malformed id before any request is sent (exit 2)."""
    return str(parse_id(value, what="lead id"))


def _owner(value: str) -> Lookup:
    table, sep, raw = value.partition(":")
    if not sep:
        table, raw = "systemuser", value
    if table not in ("systemuser", "team"):
        raise UsageProblem(
            f"--owner {value!r}: the owner is a user or a team",
            hint="use --owner USER_ID, --owner systemuser:ID or --owner team:ID",
        )
    return Lookup.to(table, parse_id(raw, what="owner id"))


def _customer(value: str) -> Lookup:
    table, sep, raw = value.partition(":")
    if not sep or table not in ("account", "contact"):
        raise UsageProblem(
            f"--customer {value!r} must say which table the customer is in",
            hint="use --customer account:ID or --customer contact:ID",
        )
    return Lookup.to(table, parse_id(raw, what="customer id"))


@click.command()
@pass_state
def whoami(state: State) -> None:
    """Show the signed-in user, business unit and organization."""
    client = state.client()
    me = client.whoami()
    state.out.record(
        {
            "url": client.url,
            "user_id": str(me.user_id),
            "business_unit_id": str(me.business_unit_id),
            "organization_id": str(me.organization_id),
        }
    )


@click.group()
def leads() -> None:
    """List, create and update leads; qualify, disqualify, reactivate."""


@leads.command("list")
@click.option("--open", "open_view", is_flag=True, help="Only open leads.")
@click.option("--closed", "closed_view", is_flag=True, help="The Closed Leads view.")
@click.option("--mine", "mine_view", is_flag=True, help="My Open Leads (owned by you).")
@click.option("--view", "saved_view", metavar="NAME", help="Run a saved view (name or id).")
@click.option(
    "--fetchxml",
    "fetchxml_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run the FetchXML query in FILE.",
)
@list_options("leads")
@pass_state
def list_leads(
    state: State,
    /,
    open_view: bool,
    closed_view: bool,
    mine_view: bool,
    saved_view: str | None,
    fetchxml_file: Path | None,
    **kwargs: Any,
) -> None:
    """List leads (all, --open, --closed, --mine, a saved --view or --fetchxml), newest first."""
    listing = ListOptions.pop(kwargs)
    views_chosen = [
        name
        for name, on in (
            ("open", open_view),
            ("closed", closed_view),
            ("mine", mine_view),
            ("view", saved_view is not None),
            ("fetchxml", fetchxml_file is not None),
        )
        if on
    ]
    if len(views_chosen) > 1:
        raise UsageProblem(
            f"choose one view, not --{' and --'.join(views_chosen)}",
            hint="--open (all open), --closed (Closed Leads), --mine (My Open Leads), "
            "--view NAME or --fetchxml FILE",
        )
    view = views_chosen[0] if views_chosen else None
    if view in ("view", "fetchxml"):
        _list_by_query(state, listing, saved_view, fetchxml_file)
        return
    limit = listing.limit
    columns = listing.columns(LIST_COLUMNS)
    query = listing.query("leads", Lead, columns)
    client = state.client()
    views = {
        "open": client.leads.open,
        "closed": client.leads.closed,
        "mine": client.leads.my_open,
    }
    found = views[view](query) if view else client.leads.list(query)
    out = state.out
    titles = {"open": "Open leads", "closed": "Closed leads", "mine": "My open leads"}
    out.rows(
        (lead_row(lead, columns) for lead in limited(found, limit, out, "leads")),
        columns,
        title=titles.get(view or "", "Leads"),
    )


def _list_by_query(
    state: State, listing: ListOptions, saved_view: str | None, fetchxml_file: Path | None
) -> None:
    """``--view`` / ``--fetchxml``: the query decides rows and order; ``--select`` the columns."""
    # --order-by has a default; only one the user typed is refused.
    source = click.get_current_context().get_parameter_source("order_by")
    ordered = source is not None and source is not ParameterSource.DEFAULT
    if listing.filter_text or ordered:
        raise UsageProblem(
            "a saved view or a FetchXML query has its own filter and order: "
            "drop --filter/--order-by"
        )
    limit = listing.limit
    columns = listing.columns(LIST_COLUMNS)
    client = state.client()
    if fetchxml_file is not None:
        found = client.leads.fetch(read_fetchxml_file(fetchxml_file))
        title = f"Leads of {fetchxml_file.name}"
    else:
        found = client.leads.view(str(saved_view))
        title = f"Leads of the view {saved_view!r}"
    out = state.out
    out.rows(
        (lead_row(lead, columns) for lead in limited(found, limit, out, "leads")),
        columns,
        title=title,
    )


@leads.command("show")
@click.argument("lead_id", metavar="ID", callback=_guid)
@click.option(
    "--related",
    is_flag=True,
    help="Also the account, contact and opportunity linked to the lead, in both directions.",
)
@pass_state
def show(state: State, lead_id: str, related: bool) -> None:
    """Show every column of one lead (--related: its account, contact, opportunity)."""
    client = state.client()
    lead = client.leads.get(lead_id)
    if not related:
        state.out.record(record_dict(lead), title=f"Lead {lead_id}")
        return
    links = related_rows(client, lead)
    out = state.out
    if out.is_table:
        out.record(record_dict(lead), title=f"Lead {lead_id}")
        out.rows(links, RELATED_COLUMNS, title="Related records")
        return
    out.data({"lead": record_dict(lead), "related": links})


@leads.command("create")
@click.option("--subject", required=True, help="Topic of the lead (becomes the opportunity name).")
@click.option("--firstname", help="First name.")
@click.option("--lastname", help="Last name.")
@click.option("--company", help="Company name (qualify creates an account from it).")
@click.option("--email", help="Email address.")
@click.option("--phone", help="Business phone.")
@click.option("--jobtitle", help="Job title.")
@click.option("--owner", metavar="ID", help="Owner: USER_ID, systemuser:ID or team:ID.")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="COL=VALUE",
    help="Any other column (repeatable).",
)
@pass_state
def create(
    state: State,
    subject: str,
    firstname: str | None,
    lastname: str | None,
    company: str | None,
    email: str | None,
    phone: str | None,
    jobtitle: str | None,
    owner: str | None,
    assignments: tuple[str, ...],
) -> None:
    """Create an open lead and print it."""
    data: dict[str, Any] = parse_assignments(assignments)
    named = {
        "subject": subject,
        "firstname": firstname,
        "lastname": lastname,
        "companyname": company,
        "emailaddress1": email,
        "telephone1": phone,
        "jobtitle": jobtitle,
    }
    for column, value in named.items():
        if value is not None:
            if column in data:
                raise UsageProblem(f"{column} is given both as an option and with --set")
            data[column] = value
    if not subject.strip():
        raise UsageProblem("--subject cannot be empty")
    if owner:
        data["ownerid"] = _owner(owner)
    lead = state.client().leads.create(data)
    state.out.info(f"Created lead {lead.id}.")
    state.out.record(record_dict(lead), title="New lead")


@leads.command("update")
@click.argument("lead_id", metavar="ID", callback=_guid)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    required=True,
    metavar="COL=VALUE",
    help="col=text, col:=JSON, or col= to clear (repeatable).",
)
@click.option("--force", is_flag=True, help="Edit a qualified/disqualified lead anyway.")
@pass_state
def update(state: State, lead_id: str, assignments: tuple[str, ...], force: bool) -> None:
    """Change columns of a lead (closed leads are read-only unless --force)."""
    changes = parse_assignments(assignments)
    if {"statecode", "statuscode"} & set(changes):
        raise UsageProblem(
            "use qualify, disqualify or reactivate to change a lead's state or status",
            hint="d365leads leads disqualify ID --reason lost",
        )
    client = state.client()
    client.leads.update(lead_id, changes, force=force)
    state.out.info(f"Updated lead {lead_id}.")
    state.out.record(record_dict(client.leads.get(lead_id)), title=f"Lead {lead_id}")


@leads.command("qualify")
@click.argument("lead_id", metavar="ID", callback=_guid)
@click.option("--no-account", is_flag=True, help="Do not create an account from the company.")
@click.option("--no-contact", is_flag=True, help="Do not create a contact from the name.")
@click.option("--no-opportunity", is_flag=True, help="Do not create an opportunity.")
@click.option("--currency", metavar="ID", help="Transaction currency id for the opportunity.")
@click.option(
    "--customer",
    metavar="account:ID|contact:ID",
    help="Existing customer for the opportunity.",
)
@pass_state
def qualify(
    state: State,
    lead_id: str,
    no_account: bool,
    no_contact: bool,
    no_opportunity: bool,
    currency: str | None,
    customer: str | None,
) -> None:
    """Qualify an open lead: create account, contact and opportunity and link them."""
    customer_ref = _customer(customer) if customer else None
    currency_id = str(parse_id(currency, what="currency id")) if currency else None
    result = state.client().leads.qualify(
        lead_id,
        create_account=not no_account,
        create_contact=not no_contact,
        create_opportunity=not no_opportunity,
        currency=currency_id,
        customer=customer_ref,
    )
    records = {
        "account": result.account,
        "contact": result.contact,
        "opportunity": result.opportunity,
    }
    links = link_rows(records, result.lead.id)
    out = state.out
    created = [
        {
            "table": table,
            "id": record.id,
            "name": getattr(record, record.primary_name, None),
        }
        for table, record in records.items()
        if record is not None
    ]
    out.info(
        f"Qualified lead {lead_id}: created "
        + (", ".join(str(r["table"]) for r in created) or "nothing")
        + "."
    )
    if out.is_table:
        out.rows(created, ["table", "id", "name"], title="Created records")
        out.rows(links, ["from", "column", "to", "to_id", "to_name"], title="Links")
        return
    out.data(
        {
            "lead": record_dict(result.lead),
            **{t: (record_dict(r) if r is not None else None) for t, r in records.items()},
            "links": links,
        }
    )


@leads.command("disqualify")
@click.argument("lead_id", metavar="ID", callback=_guid)
@click.option(
    "--reason",
    required=True,
    type=StatusChoice(list(DisqualifyReason)),
    help="lost, cannot-contact, no-longer-interested, canceled, or a tenant reason number.",
)
@pass_state
def disqualify(state: State, lead_id: str, reason: int) -> None:
    """Close an open lead as Disqualified with a reason (the lead is kept)."""
    lead = state.client().leads.disqualify(lead_id, reason)
    state.out.info(f"Disqualified lead {lead_id}.")
    state.out.record(record_dict(lead), title=f"Lead {lead_id}")


@leads.command("reactivate")
@click.argument("lead_id", metavar="ID", callback=_guid)
@click.option(
    "--status",
    type=StatusChoice([LeadStatus.NEW, LeadStatus.CONTACTED]),
    default="new",
    show_default=True,
    help="Open status reason: new, contacted, or a tenant reason number.",
)
@pass_state
def reactivate(state: State, lead_id: str, status: int) -> None:
    """Reopen a qualified or disqualified lead (it keeps its owner)."""
    lead = state.client().leads.reactivate(lead_id, status)
    state.out.info(f"Lead {lead_id} is open again.")
    state.out.record(record_dict(lead), title=f"Lead {lead_id}")
