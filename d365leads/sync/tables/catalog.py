"""The tables ``sync`` mirrors (lead, account, contact, opportunity) and their modelled columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from d365leads.errors import SyncError
from d365leads.metadata import default_status_reasons
from d365leads.sync.tables.columns import ColumnKind, ColumnSpec, TableSpec

__all__ = ["ACCOUNT", "CONTACT", "LEAD", "OPPORTUNITY", "TABLES", "table_spec"]


def _cols(spec: Sequence[tuple[str, ColumnKind]]) -> tuple[ColumnSpec, ...]:
    return tuple(ColumnSpec(name, kind) for name, kind in spec)


_ADDRESS: list[tuple[str, ColumnKind]] = [
    ("address1_line1", "string"),
    ("address1_line2", "string"),
    ("address1_line3", "string"),
    ("address1_city", "string"),
    ("address1_stateorprovince", "string"),
    ("address1_postalcode", "string"),
    ("address1_country", "string"),
]
_SYSTEM: list[tuple[str, ColumnKind]] = [
    ("statecode", "state"),
    ("statuscode", "status"),
    ("createdon", "datetime"),
    ("modifiedon", "datetime"),
    ("createdby", "lookup"),
    ("modifiedby", "lookup"),
    ("ownerid", "owner"),
    ("versionnumber", "bigint"),
]


def _statuses(table: str) -> dict[int, tuple[int, str]]:
    """statuscode -> (statecode, label) of the out-of-the-box reasons (the models' enums)."""
    return {r.value: (r.state, r.label) for r in default_status_reasons(table).options}


LEAD = TableSpec(
    "lead",
    "leads",
    "leadid",
    _cols(
        [
            ("leadid", "guid"),
            ("subject", "string"),
            ("firstname", "string"),
            ("middlename", "string"),
            ("lastname", "string"),
            ("fullname", "string"),
            ("companyname", "string"),
            ("jobtitle", "string"),
            ("emailaddress1", "string"),
            ("telephone1", "string"),
            ("mobilephone", "string"),
            ("websiteurl", "string"),
            *_ADDRESS,
            ("description", "memo"),
            ("qualificationcomments", "memo"),
            ("leadsourcecode", "choice"),
            ("numberofemployees", "int"),
            ("revenue", "money"),
            ("estimatedamount", "money"),
            ("estimatedclosedate", "date"),
            ("donotemail", "bool"),
            ("donotphone", "bool"),
            ("parentaccountid", "lookup"),
            ("parentcontactid", "lookup"),
            ("customerid", "customer"),
            ("qualifyingopportunityid", "lookup"),
            ("campaignid", "lookup"),
            ("transactioncurrencyid", "lookup"),
            *_SYSTEM,
        ]
    ),
    _statuses("lead"),
)

ACCOUNT = TableSpec(
    "account",
    "accounts",
    "accountid",
    _cols(
        [
            ("accountid", "guid"),
            ("name", "string"),
            ("accountnumber", "string"),
            ("websiteurl", "string"),
            ("telephone1", "string"),
            ("emailaddress1", "string"),
            *_ADDRESS,
            ("address1_telephone1", "string"),
            ("description", "memo"),
            ("revenue", "money"),
            ("numberofemployees", "int"),
            ("primarycontactid", "lookup"),
            ("parentaccountid", "lookup"),
            ("originatingleadid", "lookup"),
            ("transactioncurrencyid", "lookup"),
            *_SYSTEM,
        ]
    ),
    _statuses("account"),
    alternate_keys=(("accountnumber",),),
)

CONTACT = TableSpec(
    "contact",
    "contacts",
    "contactid",
    _cols(
        [
            ("contactid", "guid"),
            ("firstname", "string"),
            ("middlename", "string"),
            ("lastname", "string"),
            ("fullname", "string"),
            ("jobtitle", "string"),
            ("emailaddress1", "string"),
            ("telephone1", "string"),
            ("mobilephone", "string"),
            ("managerphone", "string"),
            *_ADDRESS,
            ("description", "memo"),
            ("parentcustomerid", "customer"),
            ("originatingleadid", "lookup"),
            ("transactioncurrencyid", "lookup"),
            *_SYSTEM,
        ]
    ),
    _statuses("contact"),
)

OPPORTUNITY = TableSpec(
    "opportunity",
    "opportunities",
    "opportunityid",
    _cols(
        [
            ("opportunityid", "guid"),
            ("name", "string"),
            ("description", "memo"),
            ("estimatedvalue", "money"),
            ("estimatedclosedate", "date"),
            ("actualvalue", "money"),
            ("actualclosedate", "date"),
            ("closeprobability", "int"),
            ("customerid", "customer"),
            ("parentaccountid", "lookup"),
            ("parentcontactid", "lookup"),
            ("originatingleadid", "lookup"),
            ("campaignid", "lookup"),
            ("transactioncurrencyid", "lookup"),
            *_SYSTEM,
        ]
    ),
    # Spelled out: the product's label of 5 is "Out-Sold", which the enum name cannot give.
    {
        1: (0, "In Progress"),
        2: (0, "On Hold"),
        3: (1, "Won"),
        4: (2, "Canceled"),
        5: (2, "Out-Sold"),
    },
)

TABLES: Mapping[str, TableSpec] = {t.logical_name: t for t in (LEAD, ACCOUNT, CONTACT, OPPORTUNITY)}
"""The tables ``sync`` mirrors, by logical name."""


def table_spec(name: str) -> TableSpec:
    """The spec of ``name`` (logical name or entity set name, any case)."""
    key = name.strip().lower()
    for spec in TABLES.values():
        if key in (spec.logical_name, spec.entity_set):
            return spec
    known = ", ".join(TABLES)
    raise SyncError(f"cannot sync table {name!r}: the tables sync knows are {known}")
