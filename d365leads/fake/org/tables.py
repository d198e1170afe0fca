"""The built-in table catalogue of the fake (the subset of Dataverse the lead lifecycle needs).

Lead, account, contact, opportunity, opportunity close, campaign, currency and system user with
their typed columns, state/status option sets, built-in alternate keys and the one-to-many
relationships behind the collection-valued navigation properties.  The types are in
:mod:`~d365leads.fake.org.schema`; one org's view with tenant columns is
:class:`~d365leads.fake.org.tenant.TenantSchema`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from .async_table import ASYNC_OPERATION
from .email_table import ACTIVITY_PARTY, EMAIL_RELATIONSHIPS, email_table
from .example_columns import (
    ACCOUNT_EXAMPLE_COLUMNS,
    CONTACT_EXAMPLE_COLUMNS,
    LEAD_EXAMPLE_COLUMNS,
)
from .map_tables import ATTRIBUTE_MAP, ENTITY_MAP
from .schema import Column, Relationship, StateOption, StatusOption, Table
from .sdk_tables import SDK_MESSAGE, SDK_MESSAGE_FILTER
from .task_table import TASK_RELATIONSHIPS, task_table
from .team_table import TEAM, owner_column, owning_columns

__all__ = [
    "RELATIONSHIPS",
    "TABLES",
    "TABLES_BY_SET",
    "collection_navigation",
    "lookup_column",
    "table",
    "table_for_set",
]


# --- helpers to build the catalogue -------------------------------------------------------


def _s(name: str, label: str, max_length: int = 100) -> Column:
    return Column(name, "string", label, max_length=max_length)


def lookup_column(name: str, label: str, target: str, *, readonly: bool = False) -> Column:
    """A single-target lookup column whose navigation property is its own name."""
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
        lookup_column("createdby", "Created By", "systemuser", readonly=True),
        lookup_column("modifiedby", "Modified By", "systemuser", readonly=True),
        owner_column(),
        *owning_columns(),
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
_WEEKDAYS = MappingProxyType(
    {0: "Sunday", 1: "Monday", 2: "Tuesday", 3: "Wednesday", 4: "Thursday", 5: "Friday",
     6: "Saturday"}
)  # fmt: skip
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
        lookup_column("parentaccountid", "Existing Account", "account"),
        lookup_column("parentcontactid", "Existing Contact", "contact"),
        _customer("customerid", "Customer"),
        lookup_column("qualifyingopportunityid", "Qualifying Opportunity", "opportunity"),
        lookup_column("campaignid", "Source Campaign", "campaign"),
        lookup_column("transactioncurrencyid", "Currency", "transactioncurrency"),
        *LEAD_EXAMPLE_COLUMNS,
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
        Column("preferredappointmentdaycode", "picklist", "Preferred Day", options=_WEEKDAYS),
        lookup_column("primarycontactid", "Primary Contact", "contact"),
        lookup_column("parentaccountid", "Parent Account", "account"),
        lookup_column("originatingleadid", "Originating Lead", "lead"),
        lookup_column("transactioncurrencyid", "Currency", "transactioncurrency"),
        *ACCOUNT_EXAMPLE_COLUMNS,
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
        lookup_column("originatingleadid", "Originating Lead", "lead"),
        lookup_column("transactioncurrencyid", "Currency", "transactioncurrency"),
        *CONTACT_EXAMPLE_COLUMNS,
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
        lookup_column("parentaccountid", "Account", "account"),
        lookup_column("parentcontactid", "Contact", "contact"),
        lookup_column("originatingleadid", "Originating Lead", "lead"),
        lookup_column("campaignid", "Source Campaign", "campaign"),
        lookup_column("transactioncurrencyid", "Currency", "transactioncurrency"),
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
        Column("azureactivedirectoryobjectid", "guid", "Azure AD Object ID"),
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
        lookup_column("transactioncurrencyid", "Currency", "transactioncurrency"),
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
        lookup_column("opportunityid", "Opportunity", "opportunity"),
        lookup_column("transactioncurrencyid", "Currency", "transactioncurrency"),
        *_state_status(_CLOSE_STATES, _CLOSE_STATUSES),
        *_system(),
    ),
    _CLOSE_STATES,
    _CLOSE_STATUSES,
    state_enum="OpportunityCloseState",
)


def _view_columns(key: str, label: str) -> tuple[Column, ...]:
    # savedquery / userquery: the columns a client reads to list and run a view.
    return (
        Column(key, "guid", label),
        _s("name", "Name", 200),
        Column("description", "memo", "Description", max_length=2000),
        Column("fetchxml", "memo", "Fetch XML", max_length=1_073_741_823),
        Column("querytype", "int", "Query Type"),
        _s("returnedtypecode", "Returned Type Code", 64),
    )


SAVED_QUERY = Table(
    "savedquery",
    "savedqueries",
    "savedqueryid",
    "name",
    (
        *_view_columns("savedqueryid", "System View"),
        Column("isdefault", "bool", "Default View"),
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    ownership="organization",
)

USER_QUERY = Table(
    "userquery",
    "userqueries",
    "userqueryid",
    "name",
    (*_view_columns("userqueryid", "Saved View"), *_system()),
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
            TEAM,
            CAMPAIGN,
            OPPORTUNITY_CLOSE,
            SDK_MESSAGE,
            SDK_MESSAGE_FILTER,
            ENTITY_MAP,
            ATTRIBUTE_MAP,
            ASYNC_OPERATION,
            SAVED_QUERY,
            USER_QUERY,
            task_table(_system()),
            email_table(_system()),
            ACTIVITY_PARTY,
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
    *TASK_RELATIONSHIPS,
    *EMAIL_RELATIONSHIPS,
)
"""Collection-valued navigation properties of the fake's tables (relationship schema names)."""


def collection_navigation(referenced: str, name: str) -> Relationship | None:
    """The relationship ``name`` seen from table ``referenced``, or ``None``."""
    return next((r for r in RELATIONSHIPS if r.referenced == referenced and r.name == name), None)
