"""The bulk operation messages on the wire: ``POST <set>/Microsoft.Dynamics.CRM.<Message>``.

``CreateMultiple``, ``UpdateMultiple`` and ``UpsertMultiple`` are bound to an entity set and take
``{"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.lead", …}, …]}``
(https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations):

* every target carries ``@odata.type`` naming the table of the URL;
* an UpdateMultiple target names its record by primary key; an UpsertMultiple target by primary
  key or by ``"@odata.id": "leads(emailaddress1='a@example.com')"`` (an alternate key);
* at most ``FakeOptions.bulk_message_max_targets`` (1,000) targets;
* all or nothing (:mod:`~d365leads.fake.org.bulk_writes`): a bad target fails the request with
  its own error and nothing is written;
* answers: CreateMultiple and UpsertMultiple ``200`` with ``{"Ids": [...]}`` (the
  ``CreateMultipleResponse`` complex type; the Web API shape of ``UpsertMultipleResponse`` is
  UNCONFIRMED), UpdateMultiple ``204``;
* only the tables of ``FakeOptions.bulk_message_tables`` answer them (404 on another table, as
  for any action the table does not have);
* their execution time is one request overhead plus a lower per-record cost
  (:func:`~d365leads.fake.core.metering.note_records`; ``FakeOptions.bulk_message_record_cost``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..core.fault import CODE_INVALID_ARGUMENT, bad_request, resource_not_found
from ..core.metering import note_records
from ..org.bulk_writes import BulkTarget, create_many, update_many, upsert_many
from ..org.schema import Table
from ..org.state import OrgState
from ..org.tables import TABLES
from ..org.values import CODE_PAYLOAD, KeySpec, attributes_from_body, parse_reference
from ..wire.messages import FakeRequest, FakeResponse, service_root
from ._common import json_body

__all__ = ["BULK_ACTIONS", "MESSAGES", "handle_bulk_message"]

MESSAGES: tuple[str, ...] = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")
"""The bulk operation messages this module answers."""

_WRITERS = {
    "CreateMultiple": create_many,
    "UpdateMultiple": update_many,
    "UpsertMultiple": upsert_many,
}


def _targets(request: FakeRequest, meta: Table, message: str, limit: int) -> list[Any]:
    payload = json_body(request)
    if not isinstance(payload, dict):
        raise bad_request(f"The {message} request body must be a JSON object.", CODE_PAYLOAD)
    for name in payload:
        if name != "Targets":
            raise bad_request(
                f"The parameter '{name}' in the request payload is not a valid parameter for "
                f"the operation '{message}'. Its parameters are: Targets.",
                CODE_PAYLOAD,
            )
    targets = payload.get("Targets")
    if not isinstance(targets, list) or not targets:
        raise bad_request(
            f"{message} requires 'Targets': a non-empty array of '{meta.logical_name}' records, "
            f'each with "@odata.type": "Microsoft.Dynamics.CRM.{meta.logical_name}".',
            CODE_PAYLOAD,
        )
    if len(targets) > limit:
        raise bad_request(
            f"{message} received {len(targets)} targets; the maximum is {limit} per request. "
            "Send the records in smaller requests.",
            CODE_INVALID_ARGUMENT,
        )
    return targets


def _key(org: OrgState, meta: Table, item: Mapping[str, Any], message: str) -> KeySpec | None:
    ref = item.get("@odata.id")
    if ref is not None:
        if not isinstance(ref, str):
            raise bad_request(f"'@odata.id' of a {message} target must be a string.", CODE_PAYLOAD)
        target_meta, key = parse_reference(org, ref)
        if target_meta.logical_name != meta.logical_name:
            raise bad_request(
                f"'@odata.id' {ref!r} names a '{target_meta.logical_name}' record, but {message} "
                f"was sent to '{meta.entity_set}'.",
                CODE_PAYLOAD,
            )
        return key
    record_id = item.get(meta.primary_key)
    return str(record_id) if record_id is not None else None


def _bulk_target(org: OrgState, meta: Table, item: Any, index: int, message: str) -> BulkTarget:
    if not isinstance(item, dict):
        raise bad_request(f"Target {index} of {message} must be a JSON object.", CODE_PAYLOAD)
    if "@odata.type" not in item:
        raise bad_request(
            f"Target {index} of {message} has no '@odata.type'; every target must carry "
            f'"@odata.type": "Microsoft.Dynamics.CRM.{meta.logical_name}".',
            CODE_PAYLOAD,
        )
    key = _key(org, meta, item, message)
    attrs = attributes_from_body(org, meta, item)
    if message == "CreateMultiple":
        return BulkTarget(attrs)
    if key is None:
        how = "its primary key" if message == "UpdateMultiple" else "its primary key or '@odata.id'"
        raise bad_request(
            f"Target {index} of {message} does not name its record: give {how} "
            f"('{meta.primary_key}').",
            CODE_PAYLOAD,
        )
    if isinstance(key, str):
        attrs[meta.primary_key] = attrs.get(meta.primary_key) or key
        key = str(attrs[meta.primary_key])
    return BulkTarget(attrs, key)


def handle_bulk_message(
    org: OrgState, request: FakeRequest, logical_name: str, message: str
) -> FakeResponse:
    """Answer one bulk operation message bound to ``logical_name``'s entity set."""
    meta = org.schema.table(logical_name)
    if logical_name not in org.options.bulk_message_tables:
        raise resource_not_found(f"Microsoft.Dynamics.CRM.{message}")
    items = _targets(request, meta, message, org.options.bulk_message_max_targets)
    targets = [_bulk_target(org, meta, item, i, message) for i, item in enumerate(items)]
    note_records(len(targets))
    duplicate = (request.header("MSCRM.SuppressDuplicateDetection") or "").strip().lower()
    ids = _WRITERS[message](org, meta, targets, duplicate_check=duplicate == "false")
    if message == "UpdateMultiple":
        return FakeResponse.empty(204)
    context = f"{service_root(request)}$metadata#Microsoft.Dynamics.CRM.{message}Response"
    return FakeResponse.json_body(200, {"@odata.context": context, "Ids": ids})


def _executor(
    logical_name: str, message: str
) -> Callable[[OrgState, FakeRequest, str | None], FakeResponse]:
    def execute(org: OrgState, request: FakeRequest, record_id: str | None) -> FakeResponse:
        del record_id  # bound to the entity set
        return handle_bulk_message(org, request, logical_name, message)

    execute.__name__ = f"{message}_{logical_name}"
    return execute


BULK_ACTIONS: Mapping[
    tuple[str, str], Callable[[OrgState, FakeRequest, str | None], FakeResponse]
] = MappingProxyType({(t, m): _executor(t, m) for t in TABLES for m in MESSAGES})
"""Executors by ``(table, message)`` for every catalogue table; a table outside
``FakeOptions.bulk_message_tables`` answers 404 for the message."""
