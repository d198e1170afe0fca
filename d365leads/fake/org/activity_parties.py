"""Replacing the activity parties of an email in one write.

``PUT emails(<id>)/email_activity_parties`` with ``{"value": [<party>, …]}`` sets the email's
parties to exactly the given list: the party rows it had are removed and one ``activityparty``
row is created per item, its ``activityid`` pointing to the email
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api#associate-tables-on-update-using-collection-valued-navigation-property).
Each item names its party through ``partyid_<table>@odata.bind`` (contact, account, lead or
systemuser) and its role through ``participationtypemask``. All items are checked before the
store changes, and the whole replacement is one store transaction: a bad item leaves the old
parties in place.

Deleting an activity deletes its party rows with it (they belong to the activity, ownership
type None).
"""

from __future__ import annotations

from typing import Any

from ..core.fault import bad_request
from ..core.values import Row
from .records import create_record
from .schema import Relationship, Table
from .state import OrgState
from .values import CODE_PAYLOAD, attributes_from_body

__all__ = ["delete_with_parties", "replace_parties"]

_PARTY_TABLE = "activityparty"
_PARTY_ACTIVITY = "activityid"


def _party_attributes(org: OrgState, party: Table, item: Any, index: int) -> Row:
    if not isinstance(item, dict):
        raise bad_request(
            f"Item {index} of 'value' must be a JSON object describing an activity party.",
            CODE_PAYLOAD,
        )
    return attributes_from_body(org, party, item)


def replace_parties(
    org: OrgState, relationship: Relationship, activity_id: str, body: Any
) -> list[Row]:
    """Make the parties of activity ``activity_id`` exactly ``body["value"]``; returns them."""
    party = org.schema.table(relationship.referencing)
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise bad_request(
            f"Replacing '{relationship.name}' needs a body {{\"value\": [<activity party>, …]}}.",
            CODE_PAYLOAD,
        )
    rows = [_party_attributes(org, party, item, i) for i, item in enumerate(items)]
    with org.store.transaction():
        _remove_parties(org, party, relationship.column, activity_id)
        created = []
        for attrs in rows:
            attrs.pop(party.primary_key, None)
            attrs[relationship.column] = activity_id
            created.append(create_record(org, party, attrs))
    return created


def _remove_parties(org: OrgState, party: Table, column: str, activity_id: str) -> None:
    for old in org.store.find(party.logical_name, lambda r: r.get(column) == activity_id):
        org.store.delete(party.logical_name, str(old[party.primary_key]))


def delete_with_parties(org: OrgState, meta: Table, record_id: str) -> Row:
    """Delete row ``record_id`` of ``meta`` and, for an activity, its parties (one transaction)."""
    party = org.schema.table(_PARTY_TABLE)
    lookup = party.by_name[_PARTY_ACTIVITY]
    with org.store.transaction():
        if meta.logical_name in lookup.targets:
            _remove_parties(org, party, lookup.name, record_id)
        return org.store.delete(meta.logical_name, record_id)
