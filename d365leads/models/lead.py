"""Lead: a prospect being worked; qualified into an opportunity or disqualified."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from d365leads.models.base import DataverseModel, Lookup, LookupSpec
from d365leads.models.enums import LeadState, LeadStatus

__all__ = ["Lead"]

_OWNER = LookupSpec(("systemuser", "team"), "ownerid")


class Lead(DataverseModel):
    """A row of the ``lead`` table (entity set ``leads``)."""

    logical_name: ClassVar[str] = "lead"
    entity_set: ClassVar[str] = "leads"
    primary_key: ClassVar[str] = "leadid"
    primary_name: ClassVar[str] = "fullname"
    lookups: ClassVar[dict[str, LookupSpec]] = {
        "parentaccountid": LookupSpec(("account",), "parentaccountid"),
        "parentcontactid": LookupSpec(("contact",), "parentcontactid"),
        "customerid": LookupSpec(("account", "contact"), "customerid", polymorphic=True),
        "qualifyingopportunityid": LookupSpec(("opportunity",), "qualifyingopportunityid"),
        "campaignid": LookupSpec(("campaign",), "campaignid"),
        "transactioncurrencyid": LookupSpec(("transactioncurrency",), "transactioncurrencyid"),
        "ownerid": _OWNER,
        "owninguser": LookupSpec(("systemuser",), "owninguser", read_only=True),
        "createdby": LookupSpec(("systemuser",), "createdby", read_only=True),
        "modifiedby": LookupSpec(("systemuser",), "modifiedby", read_only=True),
    }
    read_only: ClassVar[frozenset[str]] = DataverseModel.read_only | {"fullname"}
    state_enum = LeadState
    status_enum = LeadStatus

    leadid: UUID | None = None
    subject: str | None = None
    firstname: str | None = None
    middlename: str | None = None
    lastname: str | None = None
    fullname: str | None = None
    companyname: str | None = None
    jobtitle: str | None = None
    emailaddress1: str | None = None
    telephone1: str | None = None
    mobilephone: str | None = None
    websiteurl: str | None = None
    address1_line1: str | None = None
    address1_line2: str | None = None
    address1_line3: str | None = None
    address1_city: str | None = None
    address1_stateorprovince: str | None = None
    address1_postalcode: str | None = None
    address1_country: str | None = None
    description: str | None = None
    leadsourcecode: int | None = None
    estimatedamount: Decimal | None = None
    estimatedclosedate: date | None = None
    parentaccountid: Lookup | None = None
    parentcontactid: Lookup | None = None
    customerid: Lookup | None = None
    qualifyingopportunityid: Lookup | None = None
    campaignid: Lookup | None = None
    transactioncurrencyid: Lookup | None = None
    ownerid: Lookup | None = None
    owninguser: Lookup | None = None
    createdby: Lookup | None = None
    modifiedby: Lookup | None = None
    statecode: LeadState | None = None
    statuscode: LeadStatus | int | None = None
    createdon: datetime | None = None
    modifiedon: datetime | None = None
    versionnumber: int | None = None

    @property
    def is_open(self) -> bool | None:
        """True when open, False when qualified or disqualified, None when statecode unknown."""
        return None if self.statecode is None else self.statecode is LeadState.OPEN

    @property
    def is_closed(self) -> bool | None:
        """True when qualified or disqualified (shown in Closed Leads)."""
        return None if self.statecode is None else self.statecode is not LeadState.OPEN
