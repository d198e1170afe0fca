"""Table and column metadata of the fake (the subset of Dataverse the lead lifecycle needs).

Column types (``Column.type``): ``string``, ``memo``, ``int``, ``bigint``, ``decimal``,
``money``, ``bool``, ``datetime``, ``date``, ``guid`` (the primary key), ``picklist``,
``state``, ``status`` and the lookups ``lookup`` (one target), ``customer`` (account or
contact) and ``owner`` (systemuser).

Lookups: the store keeps a lookup under its *attribute* name (``parentaccountid``) as a
lower-case GUID string (or ``None``).  A polymorphic lookup also keeps the target table in the
companion attribute ``<name>type`` (``customeridtype = "contact"``), as Dataverse does.  On the
wire a lookup reads as ``_<name>_value`` and is written through a navigation property:
``parentaccountid@odata.bind`` or, when polymorphic, ``customerid_account@odata.bind`` /
``customerid_contact@odata.bind`` (``Column.navigation`` maps target table -> navigation name).

Every business table (``ownership == "user"``) also carries the system columns ``createdon``,
``modifiedon``, ``createdby``, ``modifiedby``, ``ownerid`` and ``versionnumber``.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "CUSTOM_COLUMN_TYPES",
    "KEY_COLUMN_TYPES",
    "LOOKUP_TYPES",
    "RELATIONSHIPS",
    "TABLES",
    "TABLES_BY_SET",
    "Column",
    "ColumnType",
    "Relationship",
    "StateOption",
    "StatusOption",
    "Table",
    "TenantSchema",
    "check_alternate_key",
    "check_custom_column",
    "collection_navigation",
    "custom_column",
    "customize",
    "table",
    "table_for_set",
]

ColumnType = Literal[
    "string",
    "memo",
    "int",
    "bigint",
    "decimal",
    "money",
    "bool",
    "datetime",
    "date",
    "guid",
    "picklist",
    "state",
    "status",
    "lookup",
    "customer",
    "owner",
]

LOOKUP_TYPES: frozenset[str] = frozenset({"lookup", "customer", "owner"})


@dataclass(frozen=True)
class Column:
    """One attribute of a table."""

    name: str
    type: ColumnType
    label: str = ""
    readonly: bool = False
    """Not valid for create or update through the API (system or computed columns)."""
    max_length: int | None = None
    targets: tuple[str, ...] = ()
    """Lookup target tables (logical names)."""
    navigation: Mapping[str, str] = field(default_factory=dict)
    """Lookup target table -> single-valued navigation property name."""
    options: Mapping[int, str] = field(default_factory=dict)
    """Picklist value -> label."""

    @property
    def is_lookup(self) -> bool:
        """True for lookup, customer and owner columns."""
        return self.type in LOOKUP_TYPES

    @property
    def is_polymorphic(self) -> bool:
        """True when the lookup has more than one target table."""
        return len(self.targets) > 1

    @property
    def value_property(self) -> str:
        """The read-side property name: ``_<name>_value`` for lookups, else the name."""
        return f"_{self.name}_value" if self.is_lookup else self.name

    @property
    def type_attribute(self) -> str:
        """Companion attribute storing the target table of a polymorphic lookup."""
        return f"{self.name}type"


@dataclass(frozen=True)
class StateOption:
    """A ``statecode`` value with its label and default ``statuscode``."""

    value: int
    label: str
    default_status: int
    enum_name: str
    """Platform enum member name, e.g. ``Open`` in ``LeadState.Open``."""


@dataclass(frozen=True)
class StatusOption:
    """A ``statuscode`` value, its label and the ``statecode`` it belongs to."""

    value: int
    label: str
    state: int


@dataclass(frozen=True)
class Table:
    """A table: names, key, typed columns, alternate keys and its state/status model."""

    logical_name: str
    entity_set: str
    primary_key: str
    primary_name: str
    columns: tuple[Column, ...]
    states: tuple[StateOption, ...] = ()
    statuses: tuple[StatusOption, ...] = ()
    alternate_keys: tuple[tuple[str, ...], ...] = ()
    ownership: Literal["user", "organization", "none"] = "user"
    state_enum: str = ""
    """Platform enum name for states, e.g. ``LeadState``."""

    @property
    def by_name(self) -> Mapping[str, Column]:
        """Columns by attribute name."""
        return MappingProxyType({c.name: c for c in self.columns})

    def column(self, name: str) -> Column | None:
        """The column named ``name`` (attribute name), or ``None``."""
        for col in self.columns:
            if col.name == name:
                return col
        return None

    def column_for_property(self, prop: str) -> Column | None:
        """Resolve a wire property (``name`` or ``_name_value`` for lookups) to its column."""
        if prop.startswith("_") and prop.endswith("_value"):
            col = self.column(prop[1:-6])
            return col if col is not None and col.is_lookup else None
        col = self.column(prop)
        if col is not None and col.is_lookup:
            return None
        return col

    def navigation(self, nav: str) -> tuple[Column, str] | None:
        """Resolve a single-valued navigation property to ``(column, target table)``."""
        for col in self.columns:
            for target, name in col.navigation.items():
                if name == nav:
                    return col, target
        return None

    @property
    def navigation_names(self) -> list[str]:
        """Every single-valued navigation property, sorted."""
        return sorted(n for c in self.columns for n in c.navigation.values())

    @property
    def has_state(self) -> bool:
        """True when the table has a state/status model."""
        return bool(self.states)

    def state(self, value: int) -> StateOption | None:
        """The state option ``value``, or ``None``."""
        return next((s for s in self.states if s.value == value), None)

    def status(self, value: int) -> StatusOption | None:
        """The status option ``value``, or ``None``."""
        return next((s for s in self.statuses if s.value == value), None)

    def statuses_of(self, state: int) -> list[StatusOption]:
        """The status reasons that belong to ``state``."""
        return [s for s in self.statuses if s.state == state]

    @property
    def type_name(self) -> str:
        """The OData type name, ``Microsoft.Dynamics.CRM.<logical>``."""
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"


# --- helpers to build the catalogue -------------------------------------------------------


def _s(name: str, label: str, max_length: int = 100) -> Column:
    return Column(name, "string", label, max_length=max_length)


def _lookup(name: str, label: str, target: str, *, readonly: bool = False) -> Column:
    return Column(
        name,
        "lookup",
        label,
        readonly=readonly,
        targets=(target,),
        navigation=MappingProxyType({target: name}),
    )


def _customer(name: str, label: str) -> Column:
    return Column(
        name,
        "customer",
        label,
        targets=("account", "contact"),
        navigation=MappingProxyType({"account": f"{name}_account", "contact": f"{name}_contact"}),
    )


def _address() -> tuple[Column, ...]:
    return (
        _s("address1_line1", "Street 1", 250),
        _s("address1_line2", "Street 2", 250),
        _s("address1_line3", "Street 3", 250),
        _s("address1_city", "City", 80),
        _s("address1_stateorprovince", "State/Province", 50),
        _s("address1_postalcode", "ZIP/Postal Code", 20),
        _s("address1_country", "Country/Region", 80),
    )


def _system() -> tuple[Column, ...]:
    return (
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        _lookup("createdby", "Created By", "systemuser", readonly=True),
        _lookup("modifiedby", "Modified By", "systemuser", readonly=True),
        Column(
            "ownerid",
            "owner",
            "Owner",
            targets=("systemuser",),
            navigation=MappingProxyType({"systemuser": "ownerid"}),
        ),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    )


def _state_status(
    states: Iterable[StateOption], statuses: Iterable[StatusOption]
) -> tuple[Column, Column]:
    return (
        Column("statecode", "state", "Status", options={s.value: s.label for s in states}),
        Column(
            "statuscode", "status", "Status Reason", options={s.value: s.label for s in statuses}
        ),
    )


_ACTIVE_STATES = (StateOption(0, "Active", 1, "Active"), StateOption(1, "Inactive", 2, "Inactive"))
_ACTIVE_STATUSES = (StatusOption(1, "Active", 0), StatusOption(2, "Inactive", 1))

_LEAD_STATES = (
    StateOption(0, "Open", 1, "Open"),
    StateOption(1, "Qualified", 3, "Qualified"),
    StateOption(2, "Disqualified", 4, "Disqualified"),
)
_LEAD_STATUSES = (
    StatusOption(1, "New", 0),
    StatusOption(2, "Contacted", 0),
    StatusOption(3, "Qualified", 1),
    StatusOption(4, "Lost", 2),
    StatusOption(5, "Cannot Contact", 2),
    StatusOption(6, "No Longer Interested", 2),
    StatusOption(7, "Canceled", 2),
)
_OPP_STATES = (
    StateOption(0, "Open", 1, "Open"),
    StateOption(1, "Won", 3, "Won"),
    StateOption(2, "Lost", 4, "Lost"),
)
_OPP_STATUSES = (
    StatusOption(1, "In Progress", 0),
    StatusOption(2, "On Hold", 0),
    StatusOption(3, "Won", 1),
    StatusOption(4, "Canceled", 2),
    StatusOption(5, "Out-Sold", 2),
)
_CAMPAIGN_STATES = (
    StateOption(0, "Active", 0, "Active"),
    StateOption(1, "Inactive", 6, "Inactive"),
)
_CAMPAIGN_STATUSES = (
    StatusOption(0, "Proposed", 0),
    StatusOption(1, "Ready To Launch", 0),
    StatusOption(2, "Launched", 0),
    StatusOption(3, "Completed", 0),
    StatusOption(4, "Canceled", 0),
    StatusOption(5, "Suspended", 0),
    StatusOption(6, "Inactive", 1),
)
_CLOSE_STATES = (
    StateOption(0, "Open", 1, "Open"),
    StateOption(1, "Completed", 2, "Completed"),
    StateOption(2, "Canceled", 3, "Canceled"),
)
_CLOSE_STATUSES = (
    StatusOption(1, "Open", 0),
    StatusOption(2, "Completed", 1),
    StatusOption(3, "Canceled", 2),
)

_ALLOW = MappingProxyType({0: "Allow", 1: "Do Not Allow"})
_LEAD_SOURCE = MappingProxyType(
    {1: "Advertisement", 2: "Employee Referral", 3: "External Referral", 4: "Partner",
     5: "Public Relations", 6: "Seminar", 7: "Trade Show", 8: "Web", 9: "Word of Mouth",
     10: "Other"}
)  # fmt: skip

LEAD = Table(
    "lead",
    "leads",
    "leadid",
    "fullname",
    (
        Column("leadid", "guid", "Lead"),
        _s("subject", "Topic", 300),
        _s("firstname", "First Name", 50),
        _s("middlename", "Middle Name", 50),
        _s("lastname", "Last Name", 50),
        Column("fullname", "string", "Name", readonly=True, max_length=160),
        _s("companyname", "Company Name", 100),
        _s("jobtitle", "Job Title", 100),
        _s("emailaddress1", "Email", 100),
        _s("telephone1", "Business Phone", 50),
        _s("mobilephone", "Mobile Phone", 20),
        _s("websiteurl", "Website", 200),
        *_address(),
        Column("description", "memo", "Description", max_length=2000),
        Column("qualificationcomments", "memo", "Qualification Comments", max_length=2000),
        Column("leadsourcecode", "picklist", "Lead Source", options=_LEAD_SOURCE),
        Column("numberofemployees", "int", "No. of Employees"),
        Column("revenue", "money", "Annual Revenue"),
        Column("estimatedamount", "money", "Est. Value"),
        Column("estimatedclosedate", "date", "Est. Close Date"),
        Column("donotemail", "bool", "Do not allow Emails", options=_ALLOW),
        Column("donotphone", "bool", "Do not allow Phone Calls", options=_ALLOW),
        _lookup("parentaccountid", "Existing Account", "account"),
        _lookup("parentcontactid", "Existing Contact", "contact"),
        _customer("customerid", "Customer"),
        _lookup("qualifyingopportunityid", "Qualifying Opportunity", "opportunity"),
        _lookup("campaignid", "Source Campaign", "campaign"),
        _lookup("transactioncurrencyid", "Currency", "transactioncurrency"),
        *_state_status(_LEAD_STATES, _LEAD_STATUSES),
        *_system(),
    ),
    _LEAD_STATES,
    _LEAD_STATUSES,
    state_enum="LeadState",
)

ACCOUNT = Table(
    "account",
    "accounts",
    "accountid",
    "name",
    (
        Column("accountid", "guid", "Account"),
        _s("name", "Account Name", 160),
        _s("accountnumber", "Account Number", 20),
        _s("websiteurl", "Website", 200),
        _s("telephone1", "Main Phone", 50),
        _s("emailaddress1", "Email", 100),
        *_address(),
        _s("address1_telephone1", "Address 1: Telephone 1", 50),
        Column("description", "memo", "Description", max_length=2000),
        Column("revenue", "money", "Annual Revenue"),
        Column("numberofemployees", "int", "Number of Employees"),
        _lookup("primarycontactid", "Primary Contact", "contact"),
        _lookup("parentaccountid", "Parent Account", "account"),
        _lookup("originatingleadid", "Originating Lead", "lead"),
        _lookup("transactioncurrencyid", "Currency", "transactioncurrency"),
        *_state_status(_ACTIVE_STATES, _ACTIVE_STATUSES),
        *_system(),
    ),
    _ACTIVE_STATES,
    _ACTIVE_STATUSES,
    alternate_keys=(("accountnumber",),),
    state_enum="AccountState",
)

CONTACT = Table(
    "contact",
    "contacts",
    "contactid",
    "fullname",
    (
        Column("contactid", "guid", "Contact"),
        _s("firstname", "First Name", 50),
        _s("middlename", "Middle Name", 50),
        _s("lastname", "Last Name", 50),
        Column("fullname", "string", "Full Name", readonly=True, max_length=160),
        _s("jobtitle", "Job Title", 100),
        _s("emailaddress1", "Email", 100),
        _s("telephone1", "Business Phone", 50),
        _s("mobilephone", "Mobile Phone", 50),
        _s("managerphone", "Manager Phone", 50),
        *_address(),
        Column("description", "memo", "Description", max_length=2000),
        _customer("parentcustomerid", "Company Name"),
        _lookup("originatingleadid", "Originating Lead", "lead"),
        _lookup("transactioncurrencyid", "Currency", "transactioncurrency"),
        *_state_status(_ACTIVE_STATES, _ACTIVE_STATUSES),
        *_system(),
    ),
    _ACTIVE_STATES,
    _ACTIVE_STATUSES,
    state_enum="ContactState",
)

OPPORTUNITY = Table(
    "opportunity",
    "opportunities",
    "opportunityid",
    "name",
    (
        Column("opportunityid", "guid", "Opportunity"),
        _s("name", "Topic", 300),
        Column("description", "memo", "Description", max_length=2000),
        Column("estimatedvalue", "money", "Est. Revenue"),
        Column("estimatedclosedate", "date", "Est. Close Date"),
        Column("actualvalue", "money", "Actual Revenue"),
        Column("actualclosedate", "date", "Actual Close Date"),
        Column("closeprobability", "int", "Probability"),
        _customer("customerid", "Potential Customer"),
        _lookup("parentaccountid", "Account", "account"),
        _lookup("parentcontactid", "Contact", "contact"),
        _lookup("originatingleadid", "Originating Lead", "lead"),
        _lookup("campaignid", "Source Campaign", "campaign"),
        _lookup("transactioncurrencyid", "Currency", "transactioncurrency"),
        *_state_status(_OPP_STATES, _OPP_STATUSES),
        *_system(),
    ),
    _OPP_STATES,
    _OPP_STATUSES,
    state_enum="OpportunityState",
)

TRANSACTION_CURRENCY = Table(
    "transactioncurrency",
    "transactioncurrencies",
    "transactioncurrencyid",
    "currencyname",
    (
        Column("transactioncurrencyid", "guid", "Currency"),
        _s("currencyname", "Currency Name", 100),
        _s("isocurrencycode", "Currency Code", 5),
        _s("currencysymbol", "Currency Symbol", 10),
        Column("exchangerate", "decimal", "Exchange Rate"),
        Column("currencyprecision", "int", "Currency Precision"),
        *_state_status(_ACTIVE_STATES, _ACTIVE_STATUSES),
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    _ACTIVE_STATES,
    _ACTIVE_STATUSES,
    alternate_keys=(("isocurrencycode",),),
    ownership="organization",
    state_enum="TransactionCurrencyState",
)

SYSTEM_USER = Table(
    "systemuser",
    "systemusers",
    "systemuserid",
    "fullname",
    (
        Column("systemuserid", "guid", "User"),
        _s("firstname", "First Name", 64),
        _s("lastname", "Last Name", 64),
        Column("fullname", "string", "Full Name", readonly=True, max_length=200),
        _s("domainname", "User Name", 1024),
        _s("internalemailaddress", "Primary Email", 100),
        Column("businessunitid", "guid", "Business Unit"),
        Column("isdisabled", "bool", "Status", options={0: "Enabled", 1: "Disabled"}),
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    alternate_keys=(("domainname",),),
    ownership="none",
)

CAMPAIGN = Table(
    "campaign",
    "campaigns",
    "campaignid",
    "name",
    (
        Column("campaignid", "guid", "Campaign"),
        _s("name", "Name", 128),
        _s("codename", "Campaign Code", 32),
        Column("description", "memo", "Description", max_length=2000),
        _lookup("transactioncurrencyid", "Currency", "transactioncurrency"),
        *_state_status(_CAMPAIGN_STATES, _CAMPAIGN_STATUSES),
        *_system(),
    ),
    _CAMPAIGN_STATES,
    _CAMPAIGN_STATUSES,
    state_enum="CampaignState",
)

OPPORTUNITY_CLOSE = Table(
    "opportunityclose",
    "opportunitycloses",
    "activityid",
    "subject",
    (
        Column("activityid", "guid", "Opportunity Close"),
        _s("subject", "Subject", 200),
        Column("description", "memo", "Description", max_length=2000),
        Column("actualrevenue", "money", "Actual Revenue"),
        Column("actualend", "date", "Close Date"),
        _lookup("opportunityid", "Opportunity", "opportunity"),
        _lookup("transactioncurrencyid", "Currency", "transactioncurrency"),
        *_state_status(_CLOSE_STATES, _CLOSE_STATUSES),
        *_system(),
    ),
    _CLOSE_STATES,
    _CLOSE_STATUSES,
    state_enum="OpportunityCloseState",
)

TABLES: Mapping[str, Table] = MappingProxyType(
    {
        t.logical_name: t
        for t in (
            LEAD,
            ACCOUNT,
            CONTACT,
            OPPORTUNITY,
            TRANSACTION_CURRENCY,
            SYSTEM_USER,
            CAMPAIGN,
            OPPORTUNITY_CLOSE,
        )
    }
)
"""Every table the fake knows, by logical name."""

TABLES_BY_SET: Mapping[str, Table] = MappingProxyType({t.entity_set: t for t in TABLES.values()})
"""Every table the fake knows, by entity set name."""


def table(logical_name: str) -> Table:
    """The table ``logical_name``; ``KeyError`` names the known tables."""
    try:
        return TABLES[logical_name]
    except KeyError:
        known = ", ".join(sorted(TABLES))
        raise KeyError(f"the fake has no table {logical_name!r}; known tables: {known}") from None


def table_for_set(entity_set: str) -> Table | None:
    """The table whose entity set is ``entity_set``, or ``None``."""
    return TABLES_BY_SET.get(entity_set)


@dataclass(frozen=True)
class Relationship:
    """A one-to-many relationship: ``referenced`` rows see the ``referencing`` rows whose
    lookup ``column`` points to them through the collection-valued navigation ``name``."""

    name: str
    referenced: str
    referencing: str
    column: str


RELATIONSHIPS: tuple[Relationship, ...] = (
    Relationship("lead_parent_account", "account", "lead", "parentaccountid"),
    Relationship("lead_parent_contact", "contact", "lead", "parentcontactid"),
    Relationship("lead_customer_accounts", "account", "lead", "customerid"),
    Relationship("lead_customer_contacts", "contact", "lead", "customerid"),
    Relationship("lead_qualifying_opportunity", "opportunity", "lead", "qualifyingopportunityid"),
    Relationship("opportunity_originating_lead", "lead", "opportunity", "originatingleadid"),
    Relationship("opportunity_parent_account", "account", "opportunity", "parentaccountid"),
    Relationship("opportunity_parent_contact", "contact", "opportunity", "parentcontactid"),
    Relationship("opportunity_customer_accounts", "account", "opportunity", "customerid"),
    Relationship("opportunity_customer_contacts", "contact", "opportunity", "customerid"),
    Relationship("account_originating_lead", "lead", "account", "originatingleadid"),
    Relationship("account_primary_contact", "contact", "account", "primarycontactid"),
    Relationship("account_parent_account", "account", "account", "parentaccountid"),
    Relationship("contact_originating_lead", "lead", "contact", "originatingleadid"),
    Relationship("contact_customer_accounts", "account", "contact", "parentcustomerid"),
    Relationship("contact_customer_contacts", "contact", "contact", "parentcustomerid"),
    Relationship(
        "Opportunity_OpportunityClose", "opportunity", "opportunityclose", "opportunityid"
    ),
)
"""Collection-valued navigation properties of the fake's tables (relationship schema names)."""


def collection_navigation(referenced: str, name: str) -> Relationship | None:
    """The relationship ``name`` seen from table ``referenced``, or ``None``."""
    return next((r for r in RELATIONSHIPS if r.referenced == referenced and r.name == name), None)


# --- tenant customisations (per fake) -------------------------------------------------------

CUSTOM_COLUMN_TYPES: tuple[str, ...] = (
    "string",
    "memo",
    "int",
    "bigint",
    "decimal",
    "money",
    "bool",
    "datetime",
    "date",
)
"""Types a tenant column may have; a custom lookup is ``lookup:<target table>``."""

KEY_COLUMN_TYPES: frozenset[str] = frozenset(
    {"string", "int", "bigint", "decimal", "datetime", "date", "picklist", "lookup"}
)
"""Column types Dataverse allows in an alternate key (text, numbers, dates, choices, lookups)."""

# Publisher prefix (2-8 letters/digits, starting with a letter), an underscore, then the name.
_CUSTOM_NAME_RE = re.compile(r"^[a-z][a-z0-9]{1,7}_[a-z0-9_]*[a-z0-9]$")
_CUSTOM_MAX_LENGTH = {"string": 100, "memo": 2000}


def custom_column(name: str, kind: str) -> Column:
    """The :class:`Column` of a tenant column ``name`` of type ``kind`` (no checks)."""
    if kind.startswith("lookup:"):
        return _lookup(name, name, kind.partition(":")[2])
    return Column(
        name,
        kind,  # type: ignore[arg-type]  # checked by check_custom_column
        name,
        max_length=_CUSTOM_MAX_LENGTH.get(kind),
    )


def check_custom_column(meta: Table, name: object, kind: object) -> None:
    """Raise ``ValueError`` unless ``name``/``kind`` can be added to ``meta`` as a tenant column.

    The name must be a lower-case logical name with a publisher prefix (``new_score``), must
    not be taken by a column (or a lookup's ``<name>type`` companion / navigation property),
    and ``kind`` must be one of :data:`CUSTOM_COLUMN_TYPES` or ``lookup:<table>``.
    """
    where = f"custom column {name!r} on {meta.logical_name}"
    if not isinstance(name, str) or not _CUSTOM_NAME_RE.match(name):
        raise ValueError(
            f"{where}: a custom column needs a publisher prefix and an underscore, in lower "
            "case (prefix of 2-8 letters/digits starting with a letter), e.g. 'new_score'"
        )
    taken = {c.name for c in meta.columns}
    taken |= {c.type_attribute for c in meta.columns if c.is_lookup}
    taken |= set(meta.navigation_names)
    if name in taken:
        raise ValueError(f"{where}: {meta.logical_name} already has a column or property {name!r}")
    if not isinstance(kind, str):
        raise ValueError(f"{where}: the type must be a string, got {kind!r}")
    if kind.startswith("lookup:"):
        target = kind.partition(":")[2]
        if target not in TABLES:
            known = ", ".join(sorted(TABLES))
            raise ValueError(f"{where}: lookup target {target!r} is not a table ({known})")
        return
    if kind not in CUSTOM_COLUMN_TYPES:
        allowed = ", ".join(CUSTOM_COLUMN_TYPES)
        raise ValueError(f"{where}: unknown type {kind!r}; use one of {allowed} or lookup:<table>")


def check_alternate_key(meta: Table, columns: Iterable[object]) -> tuple[str, ...]:
    """Raise ``ValueError`` unless ``columns`` can be an alternate key of ``meta``; return them.

    Every column must exist on ``meta`` (built-in or tenant) with a key-able type
    (:data:`KEY_COLUMN_TYPES`), no column may repeat, and the key must be new.
    """
    names = tuple(columns)
    where = f"alternate key ({', '.join(map(str, names))}) on {meta.logical_name}"
    if not names:
        raise ValueError(f"alternate key on {meta.logical_name}: name at least one column")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: a column is listed twice")
    for name in names:
        column = meta.column(name) if isinstance(name, str) else None
        if column is None:
            raise ValueError(
                f"{where}: {meta.logical_name} has no column {name!r} (add custom columns first)"
            )
        if column.type not in KEY_COLUMN_TYPES:
            raise ValueError(
                f"{where}: {name!r} is a {column.type} column; keys may use "
                f"{', '.join(sorted(KEY_COLUMN_TYPES))} columns"
            )
    if any(set(k) == set(names) for k in meta.alternate_keys):
        raise ValueError(f"{where}: {meta.logical_name} already has this key")
    return names  # type: ignore[return-value]  # every item was checked to be a column name


def customize(
    base: Table,
    columns: Iterable[tuple[str, str]] = (),
    alternate_keys: Iterable[Iterable[str]] = (),
) -> Table:
    """``base`` with tenant ``columns`` (``(name, type)``) and ``alternate_keys`` added.

    Columns are appended after the built-in ones.  Everything is checked as by
    :func:`check_custom_column` / :func:`check_alternate_key` (``ValueError``).
    """
    meta = base
    for name, kind in columns:
        check_custom_column(meta, name, kind)
        meta = dataclasses.replace(meta, columns=(*meta.columns, custom_column(name, kind)))
    for key in alternate_keys:
        names = check_alternate_key(meta, key)
        meta = dataclasses.replace(meta, alternate_keys=(*meta.alternate_keys, names))
    return meta


_Customisations = tuple[tuple[tuple[str, str, str], ...], tuple[tuple[str, tuple[str, ...]], ...]]


class TenantSchema:
    """The tables of one fake org: the built-in catalogue plus that org's customisations.

    ``customisations()`` returns ``(custom_columns, alternate_keys)`` as kept in
    ``FakeOptions`` (read on every look-up, so replacing ``fake.options`` takes effect at once);
    the merged tables are cached per distinct value.
    """

    def __init__(self, customisations: Callable[[], _Customisations]) -> None:
        self._customisations = customisations
        self._lock = threading.Lock()
        self._cache: tuple[_Customisations, dict[str, Table], dict[str, Table]] | None = None

    def __repr__(self) -> str:
        columns, keys = self._customisations()
        return f"TenantSchema({len(columns)} custom column(s), {len(keys)} alternate key(s))"

    @staticmethod
    def build(custom: _Customisations) -> dict[str, Table]:
        """Merge ``(custom_columns, alternate_keys)`` into the catalogue (``ValueError``)."""
        columns, keys = custom
        tables = dict(TABLES)
        for logical, name, kind in columns:
            if logical not in TABLES:
                known = ", ".join(sorted(TABLES))
                raise ValueError(
                    f"custom column {name!r}: the fake has no table {logical!r} ({known})"
                )
            tables[logical] = customize(tables[logical], [(name, kind)])
        for logical, names in keys:
            if logical not in TABLES:
                known = ", ".join(sorted(TABLES))
                raise ValueError(f"alternate key: the fake has no table {logical!r} ({known})")
            tables[logical] = customize(tables[logical], alternate_keys=[names])
        return tables

    def _tables(self) -> tuple[dict[str, Table], dict[str, Table]]:
        custom = self._customisations()
        with self._lock:
            cached = self._cache
            if cached is not None and cached[0] == custom:
                return cached[1], cached[2]
            by_name = self.build(custom)
            by_set = {t.entity_set: t for t in by_name.values()}
            self._cache = (custom, by_name, by_set)
            return by_name, by_set

    @property
    def tables(self) -> Mapping[str, Table]:
        """Every table of the org (customised), by logical name."""
        return MappingProxyType(self._tables()[0])

    def table(self, logical_name: str) -> Table:
        """The (customised) table ``logical_name``; ``KeyError`` names the known tables."""
        try:
            return self._tables()[0][logical_name]
        except KeyError:
            known = ", ".join(sorted(TABLES))
            raise KeyError(
                f"the fake has no table {logical_name!r}; known tables: {known}"
            ) from None

    def table_for_set(self, entity_set: str) -> Table | None:
        """The (customised) table whose entity set is ``entity_set``, or ``None``."""
        return self._tables()[1].get(entity_set)
