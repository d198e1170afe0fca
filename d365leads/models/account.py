"""Account: an organisation (the customer when a company is involved)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from d365leads.models.base import DataverseModel, Lookup, LookupSpec
from d365leads.models.enums import AccountState, AccountStatus

__all__ = ["Account"]


class Account(DataverseModel):
    """A row of the ``account`` table (entity set ``accounts``)."""

    logical_name: ClassVar[str] = "account"
    entity_set: ClassVar[str] = "accounts"
    primary_key: ClassVar[str] = "accountid"
    primary_name: ClassVar[str] = "name"
    lookups: ClassVar[dict[str, LookupSpec]] = {
        "primarycontactid": LookupSpec(("contact",), "primarycontactid"),
        "parentaccountid": LookupSpec(("account",), "parentaccountid"),
        "originatingleadid": LookupSpec(("lead",), "originatingleadid"),
        "transactioncurrencyid": LookupSpec(("transactioncurrency",), "transactioncurrencyid"),
        "ownerid": LookupSpec(("systemuser", "team"), "ownerid"),
        "createdby": LookupSpec(("systemuser",), "createdby", read_only=True),
        "modifiedby": LookupSpec(("systemuser",), "modifiedby", read_only=True),
    }
    state_enum = AccountState
    status_enum = AccountStatus

    accountid: UUID | None = None
    name: str | None = None
    accountnumber: str | None = None
    telephone1: str | None = None
    emailaddress1: str | None = None
    websiteurl: str | None = None
    address1_line1: str | None = None
    address1_line2: str | None = None
    address1_line3: str | None = None
    address1_city: str | None = None
    address1_stateorprovince: str | None = None
    address1_postalcode: str | None = None
    address1_country: str | None = None
    address1_telephone1: str | None = None
    description: str | None = None
    revenue: Decimal | None = None
    numberofemployees: int | None = None
    primarycontactid: Lookup | None = None
    parentaccountid: Lookup | None = None
    originatingleadid: Lookup | None = None
    transactioncurrencyid: Lookup | None = None
    ownerid: Lookup | None = None
    createdby: Lookup | None = None
    modifiedby: Lookup | None = None
    statecode: AccountState | None = None
    statuscode: AccountStatus | int | None = None
    createdon: datetime | None = None
    modifiedon: datetime | None = None
    versionnumber: int | None = None

    @property
    def is_active(self) -> bool | None:
        """True when active, None when statecode was not read."""
        return None if self.statecode is None else self.statecode is AccountState.ACTIVE
