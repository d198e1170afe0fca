"""Contact: a person; stands alone or belongs to an account (``parentcustomerid``)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from d365leads.models.base import DataverseModel, Lookup, LookupSpec
from d365leads.models.enums import ContactState, ContactStatus

__all__ = ["Contact"]


class Contact(DataverseModel):
    """A row of the ``contact`` table (entity set ``contacts``)."""

    logical_name: ClassVar[str] = "contact"
    entity_set: ClassVar[str] = "contacts"
    primary_key: ClassVar[str] = "contactid"
    primary_name: ClassVar[str] = "fullname"
    lookups: ClassVar[dict[str, LookupSpec]] = {
        "parentcustomerid": LookupSpec(
            ("account", "contact"), "parentcustomerid", polymorphic=True
        ),
        "originatingleadid": LookupSpec(("lead",), "originatingleadid"),
        "transactioncurrencyid": LookupSpec(("transactioncurrency",), "transactioncurrencyid"),
        "ownerid": LookupSpec(("systemuser", "team"), "ownerid"),
        "createdby": LookupSpec(("systemuser",), "createdby", read_only=True),
        "modifiedby": LookupSpec(("systemuser",), "modifiedby", read_only=True),
    }
    read_only: ClassVar[frozenset[str]] = DataverseModel.read_only | {"fullname"}
    state_enum = ContactState
    status_enum = ContactStatus

    contactid: UUID | None = None
    firstname: str | None = None
    middlename: str | None = None
    lastname: str | None = None
    fullname: str | None = None
    jobtitle: str | None = None
    emailaddress1: str | None = None
    telephone1: str | None = None
    mobilephone: str | None = None
    managerphone: str | None = None
    address1_line1: str | None = None
    address1_line2: str | None = None
    address1_line3: str | None = None
    address1_city: str | None = None
    address1_stateorprovince: str | None = None
    address1_postalcode: str | None = None
    address1_country: str | None = None
    description: str | None = None
    parentcustomerid: Lookup | None = None
    originatingleadid: Lookup | None = None
    transactioncurrencyid: Lookup | None = None
    ownerid: Lookup | None = None
    createdby: Lookup | None = None
    modifiedby: Lookup | None = None
    statecode: ContactState | None = None
    statuscode: ContactStatus | int | None = None
    createdon: datetime | None = None
    modifiedon: datetime | None = None
    versionnumber: int | None = None

    @property
    def is_active(self) -> bool | None:
        """True when active, None when statecode was not read."""
        return None if self.statecode is None else self.statecode is ContactState.ACTIVE
