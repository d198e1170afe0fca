"""Typed models of the lead-lifecycle tables, their lookups and state/status enums."""

from __future__ import annotations

from d365leads.models.account import Account
from d365leads.models.base import (
    ENTITY_SETS,
    DataverseModel,
    Lookup,
    LookupSpec,
    entity_set_of,
    parse_id,
)
from d365leads.models.contact import Contact
from d365leads.models.enums import (
    AccountState,
    AccountStatus,
    ContactState,
    ContactStatus,
    DisqualifyReason,
    LeadState,
    LeadStatus,
    OpportunityState,
    OpportunityStatus,
    default_status_pairs,
)
from d365leads.models.lead import Lead
from d365leads.models.opportunity import Opportunity

__all__ = [
    "ENTITY_SETS",
    "Account",
    "AccountState",
    "AccountStatus",
    "Contact",
    "ContactState",
    "ContactStatus",
    "DataverseModel",
    "DisqualifyReason",
    "Lead",
    "LeadState",
    "LeadStatus",
    "Lookup",
    "LookupSpec",
    "Opportunity",
    "OpportunityState",
    "OpportunityStatus",
    "default_status_pairs",
    "entity_set_of",
    "parse_id",
]
