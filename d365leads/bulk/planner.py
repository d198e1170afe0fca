"""Plan a bulk job: decide, for every selected lead, its transition or why it is skipped.

Rules (see ``lead-lifecycle.md``): a lead already in the target state is skipped (so a job is
idempotent); qualified and disqualified leads only change state through Open; a closed lead
cannot be qualified; qualification needs a customer for the opportunity (an existing parent
account/contact, or a company name for a new account, or a name for a new contact).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from d365leads.bulk.changes import normalise_changes, owner_bind
from d365leads.bulk.selection import LeadSnapshot
from d365leads.bulk.unchanged import holds_values
from d365leads.errors import BulkJobError, InvalidInputError, InvalidStatusError
from d365leads.models.enums import LeadState, LeadStatus

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BulkAction",
    "JobSpec",
    "Plan",
    "PlannedItem",
    "plan_job",
    "state_label",
]

DEFAULT_BATCH_SIZE = 50
"""Operations per ``$batch``; chosen by ``bench/bench_bulk.py`` (see bench/results/bulk.md)."""

_UNKNOWN = -1  # the journal needs a target; a lead that was not found has none

_STATE_NAMES = {s.value: s.name.title() for s in LeadState}
_STATUS_NAMES = {s.value: s.name.replace("_", " ").title() for s in LeadStatus}


def state_label(statecode: int | None, statuscode: int | None) -> str:
    """``Disqualified/No Longer Interested`` style label (numbers for unknown values)."""
    if statecode is None:
        return ""
    state = _STATE_NAMES.get(statecode, str(statecode))
    status = _STATUS_NAMES.get(statuscode, str(statuscode)) if statuscode is not None else "?"
    return f"{state}/{status}"


class BulkAction(str, enum.Enum):
    """What a bulk job does to each lead."""

    REACTIVATE = "reactivate"
    DISQUALIFY = "disqualify"
    QUALIFY = "qualify"
    UPDATE = "update"
    ASSIGN = "assign"

    @property
    def changes_fields(self) -> bool:
        """True for the jobs that write columns (update, assign), not the state."""
        return self in (BulkAction.UPDATE, BulkAction.ASSIGN)

    @property
    def target_state(self) -> int:
        """The ``statecode`` every planned lead ends in (field jobs keep each lead's own)."""
        if self.changes_fields:
            raise BulkJobError(f"a {self.value} job keeps each lead's state")
        return {
            BulkAction.REACTIVATE: LeadState.OPEN,
            BulkAction.DISQUALIFY: LeadState.DISQUALIFIED,
            BulkAction.QUALIFY: LeadState.QUALIFIED,
        }[self].value


@dataclass(frozen=True)
class JobSpec:
    """The job's action and its parameters (frozen into the journal; hashed for resume).

    ``status`` is the target status reason: New/Contacted for reactivate, a Disqualified reason
    for disqualify, Qualified (3) for qualify.  Tenant-defined reasons are accepted as ints.
    Update and assign jobs carry ``changes`` instead: the PATCH body every lead gets (see
    :mod:`d365leads.bulk.changes`), and ``status`` 0; they leave out inactive (qualified or
    disqualified) leads at planning unless ``include_inactive``, and leads that already hold
    every new value.  ``bypass_custom_logic`` sends
    ``MSCRM.BypassBusinessLogicExecution: CustomSync,CustomAsync`` with every write.
    """

    action: BulkAction
    status: int
    create_account: bool = True
    create_contact: bool = True
    create_opportunity: bool = True
    currency_id: str | None = None
    changes: tuple[tuple[str, Any], ...] = ()
    owner_label: str = ""
    bypass_custom_logic: bool = False
    include_inactive: bool = False

    def __post_init__(self) -> None:
        if self.include_inactive and not self.action.changes_fields:
            raise InvalidInputError("include_inactive only applies to update and assign jobs")
        if self.action.changes_fields:
            if not self.changes:
                raise InvalidInputError(f"a {self.action.value} job needs at least one change")
            if self.currency_id is not None:
                raise InvalidInputError("a currency only applies to qualify")
            return
        if self.changes:
            raise InvalidInputError(f"a {self.action.value} job changes the state, not fields")
        state = self.action.target_state
        known = {s.value: s for s in LeadStatus}
        if self.status in known and known[self.status].state.value != state:
            raise InvalidStatusError(
                f"status reason {self.status} ({_STATUS_NAMES[self.status]}) does not belong to "
                f"the {_STATE_NAMES[state]} state that {self.action.value} sets"
            )
        if self.action is not BulkAction.QUALIFY and (self.currency_id is not None):
            raise InvalidInputError("a currency only applies to qualify")

    @classmethod
    def reactivate(cls, status: int = LeadStatus.NEW) -> JobSpec:
        """Reactivate closed leads (Open with ``status``, New by default)."""
        return cls(BulkAction.REACTIVATE, int(status))

    @classmethod
    def disqualify(cls, reason: int) -> JobSpec:
        """Disqualify open leads with ``reason`` (a Disqualified status reason)."""
        return cls(BulkAction.DISQUALIFY, int(reason))

    @classmethod
    def qualify(
        cls,
        *,
        create_account: bool = True,
        create_contact: bool = True,
        create_opportunity: bool = True,
        currency_id: str | None = None,
        status: int = LeadStatus.QUALIFIED,
    ) -> JobSpec:
        """Qualify open leads with QualifyLead and the given creation flags."""
        return cls(
            BulkAction.QUALIFY,
            int(status),
            create_account=create_account,
            create_contact=create_contact,
            create_opportunity=create_opportunity,
            currency_id=currency_id,
        )

    @classmethod
    def update(
        cls,
        changes: Mapping[str, Any],
        *,
        bypass_custom_logic: bool = False,
        include_inactive: bool = False,
    ) -> JobSpec:
        """Write the same column values on every selected lead (one PATCH body for all).

        ``changes`` maps columns to values; a lookup takes ``Lookup.to(table, id)``,
        ``"table(id)"`` text or an ``<nav>@odata.bind`` key (checked offline here, against
        the org's column definitions by :func:`~d365leads.bulk.jobs.plan_bulk_job`).
        ``include_inactive`` also sends the write to qualified and disqualified leads (the org
        decides: Dataverse refuses edits of inactive leads by default).
        """
        body = normalise_changes(changes)
        return cls(
            BulkAction.UPDATE,
            0,
            changes=tuple(sorted(body.items())),
            bypass_custom_logic=bypass_custom_logic,
            include_inactive=include_inactive,
        )

    @classmethod
    def assign(
        cls,
        table: str,
        owner_id: str,
        *,
        label: str = "",
        bypass_custom_logic: bool = False,
        include_inactive: bool = False,
    ) -> JobSpec:
        """Give every selected lead to a user (``systemuser``) or a team (``team``).

        Assigning is an update of ``ownerid`` (``ownerid@odata.bind``); see
        :func:`~d365leads.bulk.owners.resolve_owner` to find the owner by name.
        """
        key, value = owner_bind(table, owner_id)
        return cls(
            BulkAction.ASSIGN,
            0,
            changes=((key, value),),
            owner_label=label or value,
            bypass_custom_logic=bypass_custom_logic,
            include_inactive=include_inactive,
        )

    @property
    def target_state(self) -> int:
        """The target ``statecode``."""
        return self.action.target_state

    @property
    def body(self) -> dict[str, Any]:
        """The PATCH body of an update or assign job."""
        return dict(self.changes)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form."""
        data: dict[str, Any] = {
            "action": self.action.value,
            "status": self.status,
            "create_account": self.create_account,
            "create_contact": self.create_contact,
            "create_opportunity": self.create_opportunity,
            "currency_id": self.currency_id,
        }
        # Only when set, so the digests of jobs journalled before these existed stay the same.
        if self.changes:
            data["changes"] = [[k, v] for k, v in self.changes]
        if self.owner_label:
            data["owner_label"] = self.owner_label
        if self.bypass_custom_logic:
            data["bypass_custom_logic"] = True
        if self.include_inactive:
            data["include_inactive"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobSpec:
        """Inverse of :meth:`to_json`."""
        return cls(
            BulkAction(data["action"]),
            int(data["status"]),
            create_account=bool(data.get("create_account", True)),
            create_contact=bool(data.get("create_contact", True)),
            create_opportunity=bool(data.get("create_opportunity", True)),
            currency_id=data.get("currency_id"),
            changes=tuple((str(k), v) for k, v in data.get("changes") or ()),
            owner_label=str(data.get("owner_label") or ""),
            bypass_custom_logic=bool(data.get("bypass_custom_logic", False)),
            include_inactive=bool(data.get("include_inactive", False)),
        )

    def digest(self) -> str:
        """A stable hash of the spec (a resumed job must have the same one)."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def skip_reason(self, lead: LeadSnapshot) -> str | None:
        """Why ``lead`` must not be written by this job, or None when it should be."""
        if self.action.changes_fields:
            return self._field_skip_reason(lead)
        state = lead.statecode
        if self.action is BulkAction.REACTIVATE:
            if state == LeadState.OPEN:
                return "already open (target state)"
            return None
        if self.action is BulkAction.DISQUALIFY:
            if state == LeadState.DISQUALIFIED:
                return "already disqualified (target state); reactivate it to change the reason"
            if state == LeadState.QUALIFIED:
                return "qualified lead: reactivate it before disqualifying"
            return None
        if state == LeadState.QUALIFIED:
            return "already qualified (target state)"
        if state == LeadState.DISQUALIFIED:
            return "closed lead (disqualified): reactivate it before qualifying"
        if self.create_opportunity and not self._customer_possible(lead):
            return (
                "no customer possible: the lead has no parent account or contact, and no "
                "company name (for a new account) or person name (for a new contact)"
            )
        return None

    def _field_skip_reason(self, lead: LeadSnapshot) -> str | None:
        if holds_values(self.body, lead.values):
            if self.action is BulkAction.ASSIGN:
                return "unchanged: already has this owner"
            return "unchanged: already holds every new value"
        if lead.statecode != LeadState.OPEN and not self.include_inactive:
            state = _STATE_NAMES.get(lead.statecode, str(lead.statecode)).lower()
            # Dataverse refuses edits of inactive leads (lead-lifecycle rule 3), one by one.
            return f"inactive ({state}): reactivate it first, or pass --include-inactive"
        return None

    def _customer_possible(self, lead: LeadSnapshot) -> bool:
        if lead.parent_account_id or lead.parent_contact_id:
            return True
        if self.create_account and lead.companyname:
            return True
        return bool(self.create_contact and (lead.firstname or lead.lastname))


@dataclass(frozen=True)
class PlannedItem:
    """One selected lead and what the job will do with it."""

    lead_id: str
    name: str
    before_state: int | None
    before_status: int | None
    target_state: int
    target_status: int
    skip_reason: str | None = None

    @property
    def transition(self) -> str:
        """``from -> to`` label (``State/Reason (fields)`` for a field job)."""
        if self.target_state == self.before_state and self.target_status == self.before_status:
            return f"{state_label(self.before_state, self.before_status)} (fields)"
        return (
            f"{state_label(self.before_state, self.before_status)} -> "
            f"{state_label(self.target_state, self.target_status)}"
        )


@dataclass
class Plan:
    """The outcome of planning: every item, plus the figures a dry run prints."""

    spec: JobSpec
    items: list[PlannedItem]
    batch_size: int = DEFAULT_BATCH_SIZE
    transitions: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for item in self.items:
            if item.skip_reason is None:
                self.transitions[item.transition] += 1
            else:
                self.skipped[item.skip_reason] += 1

    @property
    def to_write(self) -> list[PlannedItem]:
        """Items the job will write."""
        return [i for i in self.items if i.skip_reason is None]

    @property
    def requests(self) -> int:
        """``$batch`` requests the writes need at the planned batch size (no retries)."""
        return math.ceil(len(self.to_write) / self.batch_size) if self.to_write else 0

    def estimate_seconds(
        self, *, round_trip_s: float, workers: int, op_cost_s: float | None = None
    ) -> float:
        """Rough wall time: batches spread over ``workers``, each costing a round trip plus the
        server time of its operations (``op_cost_s`` per operation; 15 ms for a state update and
        60 ms for QualifyLead when not given, Microsoft's typical figures)."""
        if op_cost_s is None:
            op_cost_s = 0.06 if self.spec.action is BulkAction.QUALIFY else 0.015
        writes = len(self.to_write)
        if not writes:
            return 0.0
        per_batch = round_trip_s + min(writes, self.batch_size) * op_cost_s
        return math.ceil(self.requests / max(1, workers)) * per_batch

    def sample(self, n: int = 5) -> list[PlannedItem]:
        """The first ``n`` items that will be written."""
        return self.to_write[:n]

    def summary(self) -> dict[str, Any]:
        """JSON-friendly dry-run summary (with the PATCH body of a field job)."""
        summary: dict[str, Any] = {
            "action": self.spec.action.value,
            "selected": len(self.items),
            "to_write": len(self.to_write),
            "transitions": dict(self.transitions),
            "skipped": dict(self.skipped),
            "requests": self.requests,
            "batch_size": self.batch_size,
        }
        if self.spec.changes:
            summary["changes"] = self.spec.body
        if self.spec.owner_label:
            summary["owner"] = self.spec.owner_label
        return summary


def plan_job(
    spec: JobSpec,
    leads: Sequence[LeadSnapshot],
    *,
    missing_ids: Sequence[str] = (),
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Plan:
    """Plan ``spec`` over ``leads`` (and mark ``missing_ids`` as skipped: not found)."""
    fields = spec.action.changes_fields
    items = [
        PlannedItem(
            lead_id=lead.lead_id,
            name=lead.name,
            before_state=lead.statecode,
            before_status=lead.statuscode,
            # A field job leaves the state as it is: its "target" is the state it has now.
            target_state=lead.statecode if fields else spec.target_state,
            target_status=lead.statuscode if fields else spec.status,
            skip_reason=spec.skip_reason(lead),
        )
        for lead in leads
    ]
    items.extend(
        PlannedItem(
            lead_id=lead_id,
            name="",
            before_state=None,
            before_status=None,
            target_state=_UNKNOWN if fields else spec.target_state,
            target_status=_UNKNOWN if fields else spec.status,
            skip_reason="not found",
        )
        for lead_id in missing_ids
    )
    return Plan(spec, items, batch_size=batch_size)
