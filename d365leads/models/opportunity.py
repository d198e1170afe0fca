"""Opportunity: a potential sale, usually created by qualifying a lead."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from d365leads.models.base import DataverseModel, Lookup, LookupSpec
from d365leads.models.enums import OpportunityState, OpportunityStatus

__all__ = ["Opportunity"]


class Opportunity(DataverseModel):
    """A row of the ``opportunity`` table (entity set ``opportunities``)."""

    logical_name: ClassVar[str] = "opportunity"
    entity_set: ClassVar[str] = "opportunities"
    primary_key: ClassVar[str] = "opportunityid"
    primary_name: ClassVar[str] = "name"
    lookups: ClassVar[dict[str, LookupSpec]] = {
        "customerid": LookupSpec(("account", "contact"), "customerid", polymorphic=True),
        "parentaccountid": LookupSpec(("account",), "parentaccountid"),
        "parentcontactid": LookupSpec(("contact",), "parentcontactid"),
        "originatingleadid": LookupSpec(("lead",), "originatingleadid"),
        "transactioncurrencyid": LookupSpec(("transactioncurrency",), "transactioncurrencyid"),
        "campaignid": LookupSpec(("campaign",), "campaignid"),
        "ownerid": LookupSpec(("systemuser", "team"), "ownerid"),
        "createdby": LookupSpec(("systemuser",), "createdby", read_only=True),
        "modifiedby": LookupSpec(("systemuser",), "modifiedby", read_only=True),
    }
    state_enum = OpportunityState
    status_enum = OpportunityStatus

    opportunityid: UUID | None = None
    name: str | None = None
    description: str | None = None
    estimatedvalue: Decimal | None = None
    estimatedclosedate: date | None = None
    actualvalue: Decimal | None = None
    actualclosedate: date | None = None
    closeprobability: int | None = None
    customerid: Lookup | None = None
    parentaccountid: Lookup | None = None
    parentcontactid: Lookup | None = None
    originatingleadid: Lookup | None = None
    transactioncurrencyid: Lookup | None = None
    campaignid: Lookup | None = None
    ownerid: Lookup | None = None
    createdby: Lookup | None = None
    modifiedby: Lookup | None = None
    statecode: OpportunityState | None = None
    statuscode: OpportunityStatus | int | None = None
    createdon: datetime | None = None
    modifiedon: datetime | None = None
    versionnumber: int | None = None

    @property
    def is_open(self) -> bool | None:
        """True when open, False when won or lost, None when statecode was not read."""
        return None if self.statecode is None else self.statecode is OpportunityState.OPEN
