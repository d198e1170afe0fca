"""Dataverse actions on the wire: parameters in, the action's answer out; keyed by message name.

* ``QualifyLead`` (bound to ``lead``:
  ``POST leads(<id>)/Microsoft.Dynamics.CRM.QualifyLead``): closes the lead as Qualified and
  creates the account, contact and opportunity the flags ask for
  (:mod:`~d365leads.fake.org.qualify`).  Answers ``200`` with the
  ``Collection(crmbaseentity)`` envelope: ``@odata.type`` + primary key of each created record,
  in the order account, contact, opportunity.
* ``WinOpportunity`` / ``LoseOpportunity`` (unbound: ``POST WinOpportunity``) with
  ``{"Status": 3, "OpportunityClose": {"@odata.type": "Microsoft.Dynamics.CRM.opportunityclose",
  "opportunityid@odata.bind": "/opportunities(<id>)", "subject": …, "actualrevenue": …}}``:
  closes the opportunity (:mod:`~d365leads.fake.org.opportunity_close`).  Answers ``204``.

Every executor is ``(org, request, bound record id or None) -> FakeResponse``; register a new
message with one line in :data:`BOUND_ACTIONS` (bound to a table, or to its entity set with the
record id ``None``) or :data:`UNBOUND_ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..core.fault import bad_request, not_implemented
from ..org.opportunity_close import close_opportunity
from ..org.qualify import CLOSED_LEAD_MESSAGE, qualify
from ..org.state import OrgState
from ..org.values import CODE_PAYLOAD
from ..wire.json_reader import JsonReaderError
from ..wire.messages import FakeRequest, FakeResponse, service_root
from .bulk_delete import bulk_delete
from .bulk_messages import BULK_ACTIONS

__all__ = [
    "BOUND_ACTIONS",
    "CLOSED_LEAD_MESSAGE",
    "UNBOUND_ACTIONS",
    "ActionExecutor",
    "lose_opportunity",
    "qualify_lead",
    "win_opportunity",
]

ActionExecutor = Callable[[OrgState, FakeRequest, "str | None"], FakeResponse]
"""An action: ``(org, request, record id of a bound call or None) -> FakeResponse``."""

_QUALIFY_PARAMETERS = {
    "CreateAccount",
    "CreateContact",
    "CreateOpportunity",
    "Status",
    "OpportunityCurrencyId",
    "OpportunityCustomerId",
    "SourceCampaignId",
    "ProcessInstanceId",
    "SuppressDuplicateDetection",
}
_CLOSE_PARAMETERS = {"Status", "OpportunityClose"}


def _body(request: FakeRequest, action: str) -> dict[str, Any]:
    try:
        payload = request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        why = f" ({exc})" if isinstance(exc, JsonReaderError) else ""
        raise bad_request(
            f"The {action} request body is not valid JSON{why}; send a JSON object of parameters.",
            CODE_PAYLOAD,
        ) from None
    if not isinstance(payload, dict):
        raise bad_request(
            f"The {action} request body must be a JSON object of parameters.", CODE_PAYLOAD
        )
    return payload


def _check_names(payload: Mapping[str, Any], allowed: set[str], action: str) -> None:
    for name in payload:
        if name not in allowed:
            raise bad_request(
                f"The parameter '{name}' in the request payload is not a valid parameter for "
                f"the operation '{action}'. Its parameters are: {', '.join(sorted(allowed))}.",
                CODE_PAYLOAD,
            )


def _required(payload: Mapping[str, Any], name: str, kind: type, action: str) -> Any:
    if name not in payload or payload[name] is None:
        raise bad_request(
            f"Request message has unresolved parameters: {action} requires the non-nullable "
            f"parameter '{name}' ({'Edm.Boolean' if kind is bool else 'Edm.Int32'}).",
            CODE_PAYLOAD,
        )
    value = payload[name]
    ok = (
        isinstance(value, bool)
        if kind is bool
        else (isinstance(value, int) and not isinstance(value, bool))
    )
    if not ok:
        expected = "true or false" if kind is bool else "a whole number"
        raise bad_request(
            f"The {action} parameter '{name}' must be {expected}, not {value!r}.", CODE_PAYLOAD
        )
    return value


def qualify_lead(org: OrgState, request: FakeRequest, record_id: str | None) -> FakeResponse:
    """``POST leads(<id>)/Microsoft.Dynamics.CRM.QualifyLead`` (see the module docstring)."""
    payload = _body(request, "QualifyLead")
    _check_names(payload, _QUALIFY_PARAMETERS, "QualifyLead")
    create_account = _required(payload, "CreateAccount", bool, "QualifyLead")
    create_contact = _required(payload, "CreateContact", bool, "QualifyLead")
    create_opportunity = _required(payload, "CreateOpportunity", bool, "QualifyLead")
    status = _required(payload, "Status", int, "QualifyLead")
    suppress = payload.get("SuppressDuplicateDetection")
    if suppress is not None and not isinstance(suppress, bool):
        raise bad_request(
            "The QualifyLead parameter 'SuppressDuplicateDetection' must be true or false.",
            CODE_PAYLOAD,
        )
    if payload.get("ProcessInstanceId") is not None:
        raise not_implemented("QualifyLead with ProcessInstanceId (business process flows)")
    created = qualify(
        org,
        record_id,
        payload,
        create_account=create_account,
        create_contact=create_contact,
        create_opportunity=create_opportunity,
        status=status,
    )
    root = service_root(request)
    return FakeResponse.json_body(
        200,
        {
            "@odata.context": f"{root}$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)",
            "value": [
                {
                    "@odata.type": f"#Microsoft.Dynamics.CRM.{meta.logical_name}",
                    meta.primary_key: row[meta.primary_key],
                }
                for meta, row in created
            ],
        },
    )


def _close(org: OrgState, request: FakeRequest, action: str, state: int) -> FakeResponse:
    payload = _body(request, action)
    _check_names(payload, _CLOSE_PARAMETERS, action)
    status = _required(payload, "Status", int, action)
    close = payload.get("OpportunityClose")
    if not isinstance(close, dict):
        raise bad_request(
            f"Request message has unresolved parameters: {action} requires 'OpportunityClose', "
            'an object like {"@odata.type": "Microsoft.Dynamics.CRM.opportunityclose", '
            '"opportunityid@odata.bind": "/opportunities(<id>)", "subject": "…"}.',
            CODE_PAYLOAD,
        )
    close_opportunity(org, action, state, status, close)
    return FakeResponse.empty(204)


def win_opportunity(org: OrgState, request: FakeRequest, record_id: str | None) -> FakeResponse:
    """``POST WinOpportunity``: close an open opportunity as Won (state 1)."""
    del record_id  # unbound
    return _close(org, request, "WinOpportunity", 1)


def lose_opportunity(org: OrgState, request: FakeRequest, record_id: str | None) -> FakeResponse:
    """``POST LoseOpportunity``: close an open opportunity as Lost (state 2)."""
    del record_id  # unbound
    return _close(org, request, "LoseOpportunity", 2)


BOUND_ACTIONS: Mapping[tuple[str, str], ActionExecutor] = MappingProxyType(
    {("lead", "QualifyLead"): qualify_lead, **BULK_ACTIONS}
)
"""Bound actions by ``(table logical name, action name without the namespace)``."""

UNBOUND_ACTIONS: Mapping[str, ActionExecutor] = MappingProxyType(
    {
        "WinOpportunity": win_opportunity,
        "LoseOpportunity": lose_opportunity,
        "BulkDelete": bulk_delete,
    }
)
"""Unbound actions by name."""
