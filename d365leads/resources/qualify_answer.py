"""QualifyLead's parameters and its answer: what the action created, or what its answer lacks.

The answer is a ``Collection(crmbaseentity)``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/qualifylead);
the content of each element beyond ``@odata.type`` is not documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from d365leads.errors import (
    DataverseError,
    InvalidIdError,
    InvalidInputError,
    MalformedResponseError,
)
from d365leads.http.json_body import json_value
from d365leads.http.transport import Response
from d365leads.models.account import Account
from d365leads.models.base import DataverseModel, Lookup, parse_id
from d365leads.models.contact import Contact
from d365leads.models.lead import Lead
from d365leads.models.opportunity import Opportunity

__all__ = [
    "QualifyResult",
    "created_records",
    "customer_reference",
    "entity_parameter",
    "parse_qualify_response",
    "reference",
]

_ODATA_TYPE = "@odata.type"
_TYPE_PREFIX = "Microsoft.Dynamics.CRM."


@dataclass(frozen=True)
class QualifyResult:
    """What qualification produced: the closed lead and the records created from it."""

    lead: Lead
    account: Account | None = None
    contact: Contact | None = None
    opportunity: Opportunity | None = None
    created: tuple[Lookup, ...] = field(default=())
    """References exactly as QualifyLead returned them (table and id)."""


def entity_parameter(ref: Lookup) -> dict[str, str]:
    """QualifyLead's entity parameter for ``ref``: its ``@odata.type`` and primary key."""
    assert ref.table is not None
    return {_ODATA_TYPE: _TYPE_PREFIX + ref.table, f"{ref.table}id": str(ref.id)}


def _pairs(value: Any) -> tuple[list[tuple[str, UUID | None]], str | None]:
    """The ``(table, id)`` pairs of a ``value`` collection, or what it lacks to name them."""
    if not isinstance(value, list):
        return [], "the 'value' collection of created records"
    pairs: list[tuple[str, UUID | None]] = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, Mapping):
            return [], f"created record {number} as a JSON object (got {type(item).__name__})"
        table = str(item.get(_ODATA_TYPE) or "").lstrip("#").removeprefix(_TYPE_PREFIX)
        if not table:
            return [], f"the @odata.type of created record {number}"
        raw_id = item.get(f"{table}id")
        try:
            pairs.append((table, parse_id(raw_id, what=f"{table}id") if raw_id else None))
        except InvalidIdError:
            return [], f"a valid id of the created {table} ({str(raw_id)[:60]!r})"
    return pairs, None


def parse_qualify_response(body: Mapping[str, Any]) -> list[tuple[str, UUID | None]]:
    """Parse QualifyLead's ``Collection(crmbaseentity)`` into ``(table, id)`` pairs.

    Each element carries ``@odata.type`` (``#Microsoft.Dynamics.CRM.account``) and, as far as
    is known, its primary key (``accountid``); the element content is not documented, so an
    element without its key gives ``(table, None)``.

    :raises DataverseError: the body does not list the created records (says what it lacks).
    """
    pairs, missing = _pairs(body.get("value"))
    if missing is not None:
        raise DataverseError(f"QualifyLead's answer lacks {missing}")
    return pairs


def created_records(
    response: Response, requested: bool
) -> tuple[list[tuple[str, UUID | None]], str | None]:
    """The ``(table, id)`` pairs a QualifyLead answer names, or what it lacks to name them.

    An empty answer is only complete when nothing was to be created. An element that names
    its table without the key gives ``(table, None)`` (the element content is UNCONFIRMED).
    """
    if not response.content:
        return [], ("a body listing the created records" if requested else None)
    try:
        payload = json_value(response, method="POST")
    except MalformedResponseError as exc:
        return [], f"a usable JSON body ({exc})"
    if not isinstance(payload, Mapping):
        return [], "the 'value' collection of created records"
    return _pairs(payload.get("value"))


def reference(value: Any, table: str, what: str) -> Lookup | None:
    """A :class:`Lookup` to ``table`` from a saved model, a Lookup or an id (``None`` stays)."""
    if value is None:
        return None
    if isinstance(value, DataverseModel):
        if value.logical_name != table or value.id is None:
            raise InvalidInputError(f"{what} must be a saved {table} or its id")
        return Lookup(id=value.id, table=table)
    if isinstance(value, Lookup):
        if value.table not in (None, table):
            raise InvalidInputError(f"{what} must reference a {table}, not a {value.table}")
        return Lookup(id=value.id, table=table)
    return Lookup(id=parse_id(value, what=f"{what} id"), table=table)


def customer_reference(value: Any) -> Lookup | None:
    """The customer of a qualification: an account or contact, never a bare id."""
    if value is None:
        return None
    if isinstance(value, (Account, Contact)):
        if value.id is None:
            raise InvalidInputError(f"the customer {value.logical_name} has no id; create it first")
        return Lookup(id=value.id, table=value.logical_name)
    if isinstance(value, Lookup) and value.table in ("account", "contact"):
        return value
    raise InvalidInputError(
        "customer must be an Account or Contact, or Lookup.to('account'|'contact', id): "
        f"a bare id does not say which table it is in (got {value!r})"
    )
