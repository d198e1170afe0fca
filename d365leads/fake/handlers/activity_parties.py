"""``PUT <activity set>(<id>)/<activity parties navigation>``: replace an activity's parties.

The documented way to set the sender and recipients of an email after it exists is a PUT of
the whole collection (``{"value": [...]}``), answered ``204 No Content``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api#associate-tables-on-update-using-collection-valued-navigation-property).
The work is :func:`~d365leads.fake.org.activity_parties.replace_parties`.
"""

from __future__ import annotations

from ..org.activity_parties import replace_parties
from ..org.schema import Relationship
from ..wire.messages import FakeResponse
from ..wire.query_options import check_options
from ._common import json_body
from .context import RequestContext

__all__ = ["PARTY_TABLE", "handle_replace_parties", "replaces_parties"]

PARTY_TABLE = "activityparty"


def replaces_parties(relationship: Relationship, method: str) -> bool:
    """Whether ``method`` on ``relationship`` is the replacement of an activity's parties."""
    return method == "PUT" and relationship.referencing == PARTY_TABLE


def handle_replace_parties(
    ctx: RequestContext, record_id: str, relationship: Relationship
) -> FakeResponse:
    """Replace the parties of activity ``record_id`` with the body's ``value`` (204)."""
    check_options(ctx.request, set())
    replace_parties(ctx.org, relationship, record_id, json_body(ctx.request))
    return FakeResponse.empty(204)
