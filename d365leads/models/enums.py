"""State (statecode) and status reason (statuscode) values of lead, opportunity, account, contact.

Values are the out-of-the-box ones
(https://learn.microsoft.com/dynamics365/developer/reference/entities/lead). A tenant can add
status reasons of its own, so the client accepts a plain ``int`` wherever a status enum is taken
and checks it against the org's metadata (:mod:`d365leads.metadata`).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "AccountState",
    "AccountStatus",
    "ContactState",
    "ContactStatus",
    "DisqualifyReason",
    "LeadState",
    "LeadStatus",
    "OpportunityState",
    "OpportunityStatus",
    "default_status_pairs",
]


class LeadState(IntEnum):
    """``lead.statecode``."""

    OPEN = 0
    QUALIFIED = 1
    DISQUALIFIED = 2

    @property
    def default_status(self) -> LeadStatus:
        """The status reason Dataverse gives this state by default."""
        return {0: LeadStatus.NEW, 1: LeadStatus.QUALIFIED, 2: LeadStatus.LOST}[self.value]

    @property
    def is_active(self) -> bool:
        """Only open leads can be edited, qualified or disqualified."""
        return self is LeadState.OPEN


class LeadStatus(IntEnum):
    """``lead.statuscode`` (out-of-the-box reasons)."""

    NEW = 1
    CONTACTED = 2
    QUALIFIED = 3
    LOST = 4
    CANNOT_CONTACT = 5
    NO_LONGER_INTERESTED = 6
    CANCELED = 7

    @property
    def state(self) -> LeadState:
        """The state this reason belongs to."""
        if self.value <= 2:
            return LeadState.OPEN
        if self.value == 3:
            return LeadState.QUALIFIED
        return LeadState.DISQUALIFIED


class DisqualifyReason(IntEnum):
    """The four out-of-the-box status reasons of the Disqualified state."""

    LOST = 4
    CANNOT_CONTACT = 5
    NO_LONGER_INTERESTED = 6
    CANCELED = 7


class OpportunityState(IntEnum):
    """``opportunity.statecode``."""

    OPEN = 0
    WON = 1
    LOST = 2

    @property
    def default_status(self) -> OpportunityStatus:
        """The status reason Dataverse gives this state by default."""
        return {
            0: OpportunityStatus.IN_PROGRESS,
            1: OpportunityStatus.WON,
            2: OpportunityStatus.CANCELED,
        }[self.value]

    @property
    def is_active(self) -> bool:
        """Won and lost opportunities are read-only until reopened."""
        return self is OpportunityState.OPEN


class OpportunityStatus(IntEnum):
    """``opportunity.statuscode`` (out-of-the-box reasons)."""

    IN_PROGRESS = 1
    ON_HOLD = 2
    WON = 3
    CANCELED = 4
    OUT_SOLD = 5

    @property
    def state(self) -> OpportunityState:
        """The state this reason belongs to."""
        if self.value <= 2:
            return OpportunityState.OPEN
        if self.value == 3:
            return OpportunityState.WON
        return OpportunityState.LOST


class AccountState(IntEnum):
    """``account.statecode``."""

    ACTIVE = 0
    INACTIVE = 1

    @property
    def default_status(self) -> AccountStatus:
        """The status reason Dataverse gives this state by default."""
        return AccountStatus(self.value + 1)

    @property
    def is_active(self) -> bool:
        """Inactive accounts are read-only in the product."""
        return self is AccountState.ACTIVE


class AccountStatus(IntEnum):
    """``account.statuscode``."""

    ACTIVE = 1
    INACTIVE = 2

    @property
    def state(self) -> AccountState:
        """The state this reason belongs to."""
        return AccountState(self.value - 1)


class ContactState(IntEnum):
    """``contact.statecode``."""

    ACTIVE = 0
    INACTIVE = 1

    @property
    def default_status(self) -> ContactStatus:
        """The status reason Dataverse gives this state by default."""
        return ContactStatus(self.value + 1)

    @property
    def is_active(self) -> bool:
        """Inactive contacts are read-only in the product."""
        return self is ContactState.ACTIVE


class ContactStatus(IntEnum):
    """``contact.statuscode``."""

    ACTIVE = 1
    INACTIVE = 2

    @property
    def state(self) -> ContactState:
        """The state this reason belongs to."""
        return ContactState(self.value - 1)


_PAIRS: dict[str, dict[int, int]] = {
    "lead": {s.value: s.state.value for s in LeadStatus},
    "opportunity": {s.value: s.state.value for s in OpportunityStatus},
    "account": {s.value: s.state.value for s in AccountStatus},
    "contact": {s.value: s.state.value for s in ContactStatus},
}


def default_status_pairs(table: str) -> dict[int, int]:
    """Return ``{statuscode: statecode}`` for the out-of-the-box reasons of ``table``.

    :param table: logical name: ``lead``, ``opportunity``, ``account`` or ``contact``.
    :raises KeyError: for any other table.
    """
    return dict(_PAIRS[table])
