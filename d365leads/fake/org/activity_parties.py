"""Replacing the activity parties of an email in one write.

``PUT emails(<id>)/email_activity_parties`` with ``{"value": [<party>, …]}`` sets the email's
parties to exactly the given list: the party rows it had are removed and one ``activityparty``
row is created per item, its ``activityid`` pointing to the email
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api#associate-tables-on-update-using-collection-valued-navigation-property).
Each item names its party through ``partyid_<table>@odata.bind`` (contact, account, lead or
systemuser) and its role through ``participationtypemask``. All items are checked before the
store changes, and the whole replacement is one store transaction: a bad item leaves the old
parties in place.
"""

from __future__ import annotations

from typing import Any

from ..core.fault import bad_request
from ..core.values import Row
from .records import create_record
from .schema import Relationship, Table
from .state import OrgState
from .values import CODE_PAYLOAD, attributes_from_body

__all__ = ["replace_parties"]

_REQUIRED = "participationtypemask"


def _party_attributes(org: OrgState, party: Table, item: Any, index: int) -> Row:
    if not isinstance(item, dict):
        raise bad_request(
            f"Item {index} of 'value' must be a JSON object describing an activity party.",
            CODE_PAYLOAD,
        )
    if item.get(_REQUIRED) is None:
        # The column is system-required; the status and code of the refusal are UNCONFIRMED.
        raise bad_request(
            f"Item {index} of 'value' has no '{_REQUIRED}'; every activity party needs its "
            "role (1 Sender, 2 To Recipient, 3 CC Recipient, 4 BCC Recipient, …).",
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
        for old in org.store.find(
            party.logical_name, lambda r: r.get(relationship.column) == activity_id
        ):
            org.store.delete(party.logical_name, str(old[party.primary_key]))
        created = []
        for attrs in rows:
            attrs.pop(party.primary_key, None)
            attrs[relationship.column] = activity_id
            created.append(create_record(org, party, attrs))
    return created
