"""client.contacts: typed contact operations, deactivate and activate."""

from __future__ import annotations

from typing import ClassVar

from d365leads.models.base import DataverseModel
from d365leads.models.contact import Contact
from d365leads.models.enums import ContactState, ContactStatus
from d365leads.resources.base import EntitySet, RecordRef

__all__ = ["Contacts"]


class Contacts(EntitySet[Contact]):
    """``client.contacts``."""

    model: ClassVar[type[DataverseModel]] = Contact

    def deactivate(
        self, contact: RecordRef, status: ContactStatus | int = ContactStatus.INACTIVE
    ) -> None:
        """Set the contact Inactive (``statecode`` 1 with an Inactive reason)."""
        self._set_state(contact, ContactState.INACTIVE, int(status))

    def activate(
        self, contact: RecordRef, status: ContactStatus | int = ContactStatus.ACTIVE
    ) -> None:
        """Set the contact Active again (``statecode`` 0 with an Active reason)."""
        self._set_state(contact, ContactState.ACTIVE, int(status))
