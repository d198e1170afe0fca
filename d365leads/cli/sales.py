"""``d365leads accounts|contacts|opportunities ...``: the rest of the sales chain.

Each group has ``list``, ``show``, ``create`` and ``update`` (:mod:`d365leads.cli.tables`);
accounts and contacts also ``deactivate`` and ``activate``, opportunities ``win``, ``lose`` and
``reopen`` with the close fields.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import click

from d365leads.cli.context import State, pass_state
from d365leads.cli.params import StatusChoice, guid_argument
from d365leads.cli.present import record_dict
from d365leads.cli.tables import NamedOption, TableSpec, table_group
from d365leads.models import Account, Contact, Opportunity
from d365leads.models.enums import (
    AccountState,
    AccountStatus,
    ContactState,
    ContactStatus,
    OpportunityStatus,
)

__all__ = ["accounts", "contacts", "opportunities"]

F = TypeVar("F", bound=Callable[..., Any])

ACCOUNTS = TableSpec(
    name="accounts",
    model=Account,
    columns=("accountid", "name", "accountnumber", "address1_city", "status", "owner", "createdon"),
    create_options=(
        NamedOption("--name", "name", "Account name.", required=True),
        NamedOption("--number", "accountnumber", "Account number."),
        NamedOption("--email", "emailaddress1", "Email address."),
        NamedOption("--phone", "telephone1", "Main phone."),
        NamedOption("--city", "address1_city", "City of the main address."),
    ),
    state_hint="deactivate or activate",
)
CONTACTS = TableSpec(
    name="contacts",
    model=Contact,
    columns=(
        "contactid",
        "fullname",
        "emailaddress1",
        "parentcustomerid",
        "status",
        "owner",
        "createdon",
    ),
    create_options=(
        NamedOption("--lastname", "lastname", "Last name.", required=True),
        NamedOption("--firstname", "firstname", "First name."),
        NamedOption("--email", "emailaddress1", "Email address."),
        NamedOption("--phone", "telephone1", "Business phone."),
        NamedOption("--jobtitle", "jobtitle", "Job title."),
    ),
    state_hint="deactivate or activate",
)
OPPORTUNITIES = TableSpec(
    name="opportunities",
    model=Opportunity,
    columns=(
        "opportunityid",
        "name",
        "customerid",
        "estimatedvalue",
        "status",
        "owner",
        "createdon",
    ),
    create_options=(
        NamedOption("--name", "name", "Topic of the opportunity.", required=True),
        NamedOption("--customer", "customerid", "The customer: account:ID or contact:ID."),
    ),
    state_hint="win, lose or reopen",
)

accounts = table_group(ACCOUNTS, "Accounts: list, show, create, update, deactivate, activate.")
contacts = table_group(CONTACTS, "Contacts: list, show, create, update, deactivate, activate.")
opportunities = table_group(
    OPPORTUNITIES, "Opportunities: list, show, create, update, win, lose, reopen."
)


def _add_activation(group: click.Group, spec: TableSpec, state_enum: Any, status_enum: Any) -> None:
    noun = spec.noun
    check_id = guid_argument(f"{noun} id")

    def change(state: State, record_id: str, target: int, status: int, verb: str) -> None:
        resource = spec.resource(state)
        record = resource.get(record_id, select=[spec.model.primary_key, "statecode"])
        current = getattr(record, "statecode", None)
        if current is not None and int(current) == target:
            state.out.info(f"{noun.capitalize()} {record_id} is already {verb}; nothing to do.")
        else:
            method = resource.activate if target == 0 else resource.deactivate  # type: ignore[attr-defined]
            method(record_id, status)
            state.out.info(f"{noun.capitalize()} {record_id} is {verb}.")
        state.out.record(record_dict(resource.get(record_id)), title=f"{noun} {record_id}")

    @group.command("deactivate")
    @click.argument("record_id", metavar="ID", callback=check_id)
    @click.option(
        "--status",
        type=StatusChoice([status_enum.INACTIVE]),
        default="inactive",
        show_default=True,
        help="Inactive status reason: inactive, or a tenant reason number.",
    )
    @pass_state
    def deactivate(state: State, record_id: str, status: int) -> None:
        change(state, record_id, int(state_enum.INACTIVE), status, "inactive")

    deactivate.help = f"Set a {noun} Inactive (it becomes read-only; activate undoes it)."

    @group.command("activate")
    @click.argument("record_id", metavar="ID", callback=check_id)
    @click.option(
        "--status",
        type=StatusChoice([status_enum.ACTIVE]),
        default="active",
        show_default=True,
        help="Active status reason: active, or a tenant reason number.",
    )
    @pass_state
    def activate(state: State, record_id: str, status: int) -> None:
        change(state, record_id, int(state_enum.ACTIVE), status, "active")

    activate.help = f"Set an inactive {noun} Active again."


_add_activation(accounts, ACCOUNTS, AccountState, AccountStatus)
_add_activation(contacts, CONTACTS, ContactState, ContactStatus)

_check_opportunity = guid_argument("opportunity id")


def _close_options(
    default_status: str, statuses: list[OpportunityStatus], what: str
) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        for option in reversed(
            [
                click.argument("opportunity_id", metavar="ID", callback=_check_opportunity),
                click.option(
                    "--status",
                    type=StatusChoice(statuses),
                    default=default_status,
                    show_default=True,
                    help=f"{what} status reason, or a tenant reason number.",
                ),
                click.option("--subject", help="Subject of the opportunity close activity."),
                click.option(
                    "--revenue",
                    type=click.FLOAT,
                    metavar="AMOUNT",
                    help="Actual revenue recorded on the close.",
                ),
                click.option(
                    "--close-date",
                    type=click.DateTime(formats=["%Y-%m-%d"]),
                    metavar="YYYY-MM-DD",
                    help="Actual close date (default: today, set by Dataverse).",
                ),
                click.option("--description", help="Description of the close."),
            ]
        ):
            func = option(func)
        return func

    return decorate


def _close(
    state: State,
    verb: str,
    opportunity_id: str,
    status: int,
    subject: str | None,
    revenue: float | None,
    close_date: dt.datetime | None,
    description: str | None,
) -> None:
    resource = state.client().opportunities
    close = resource.win if verb == "won" else resource.lose
    close(
        opportunity_id,
        status=status,
        subject=subject,
        actual_revenue=Decimal(str(revenue)) if revenue is not None else None,
        close_date=close_date.date() if close_date is not None else None,
        description=description,
    )
    state.out.info(f"Opportunity {opportunity_id} is {verb}.")
    state.out.record(
        record_dict(resource.get(opportunity_id)), title=f"Opportunity {opportunity_id}"
    )


@opportunities.command("win")
@_close_options("won", [OpportunityStatus.WON], "Won")
@pass_state
def win(state: State, /, opportunity_id: str, **close: Any) -> None:
    """Close an open opportunity as Won (WinOpportunity records the close)."""
    _close(state, "won", opportunity_id, **close)


@opportunities.command("lose")
@_close_options("canceled", [OpportunityStatus.CANCELED, OpportunityStatus.OUT_SOLD], "Lost")
@pass_state
def lose(state: State, /, opportunity_id: str, **close: Any) -> None:
    """Close an open opportunity as Lost (canceled or out-sold)."""
    _close(state, "lost", opportunity_id, **close)


@opportunities.command("reopen")
@click.argument("opportunity_id", metavar="ID", callback=_check_opportunity)
@click.option(
    "--status",
    type=StatusChoice([OpportunityStatus.IN_PROGRESS, OpportunityStatus.ON_HOLD]),
    default="in-progress",
    show_default=True,
    help="Open status reason: in-progress, on-hold, or a tenant reason number.",
)
@pass_state
def reopen(state: State, opportunity_id: str, status: int) -> None:
    """Reopen a won or lost opportunity (an open one is left as it is)."""
    resource = state.client().opportunities
    resource.reopen(opportunity_id, status)
    state.out.info(f"Opportunity {opportunity_id} is open.")
    state.out.record(
        record_dict(resource.get(opportunity_id)), title=f"Opportunity {opportunity_id}"
    )
