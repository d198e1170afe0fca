"""Typed table resources: ``client.leads``, ``client.accounts``, ``client.contacts``, ..."""

from __future__ import annotations

from d365leads.resources.accounts import Accounts
from d365leads.resources.base import EntitySet, RecordRef
from d365leads.resources.contacts import Contacts
from d365leads.resources.leads import Leads, QualifyResult, parse_qualify_response
from d365leads.resources.opportunities import Opportunities

__all__ = [
    "Accounts",
    "Contacts",
    "EntitySet",
    "Leads",
    "Opportunities",
    "QualifyResult",
    "RecordRef",
    "parse_qualify_response",
]
