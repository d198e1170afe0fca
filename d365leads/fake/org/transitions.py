"""State changes on update: the pair rules, the transitions the lifecycle forbids.

* ``statecode`` + ``statuscode`` together must be a valid pair; ``statuscode`` alone must belong
  to the current state; ``statecode`` alone gets that state's default status
  (``statecode_only_sets_default_status``; off = the current status must fit the new state);
  ``statecode`` alone equal to the current state keeps the current status.
* Opportunity: a PATCH to Won/Lost is refused (``opportunity_close_requires_action``; use
  ``WinOpportunity``/``LoseOpportunity``); ``customerid`` cannot be cleared
  (``require_opportunity_customer``, business rule 7).
* Lead: disqualifying a lead that has an originating opportunity is refused when
  ``disqualify_requires_no_open_opportunity`` is on and the caller passes ``store``.
* Inactive records: :mod:`~d365leads.fake.org.inactive`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from ..core.fault import CODE_INVALID_ARGUMENT, FakeFault
from ..core.options import FakeOptions
from .inactive import check_inactive_edit
from .schema import Table
from .states import (
    INITIAL_STATE,
    check_pair,
    default_status,
    int_or_fault,
    invalid_pair,
    invalid_state,
    no_customer,
    state_name,
    status_model,
)
from .store import Store

__all__ = ["validate_update"]


def validate_update(
    table: Table | str,
    current: Mapping[str, Any],
    changes: MutableMapping[str, Any],
    options: FakeOptions,
    *,
    store: Store | None = None,
) -> None:
    """Check a PATCH (attribute names, lookups resolved) of ``current``; complete ``changes``.

    Fills ``statuscode`` when only ``statecode`` is sent; raises :class:`FakeFault` for an
    invalid pair, an edit of an inactive record, an opportunity closed by PATCH, or a cleared
    opportunity customer (see the module docstring).  ``store`` enables the optional
    "disqualify only without opportunity" check.
    """
    meta = status_model(table, options)
    record_id = str(current.get(meta.primary_key) or "") or None
    if meta.has_state:
        target_state = _check_state_change(meta, current, changes, record_id, options)
        _check_transition(meta, current, target_state, record_id, options, store)
        check_inactive_edit(meta, current, changes, record_id, options)
    if (
        meta.logical_name == "opportunity"
        and options.require_opportunity_customer
        and "customerid" in changes
        and not changes["customerid"]
    ):
        raise no_customer()


def _check_state_change(
    meta: Table,
    current: Mapping[str, Any],
    changes: MutableMapping[str, Any],
    record_id: str | None,
    options: FakeOptions,
) -> int | None:
    """Validate the state/status part of ``changes``; return the resulting statecode."""
    cur_state = current.get("statecode")
    cur_status = current.get("statuscode")
    has_state = "statecode" in changes
    has_status = "statuscode" in changes
    if not has_state and not has_status:
        return cur_state if isinstance(cur_state, int) else None
    if has_state and has_status:
        state = int_or_fault(meta, "statecode", changes["statecode"])
        status = int_or_fault(meta, "statuscode", changes["statuscode"])
        check_pair(meta, state, status, options, record_id)
        return state
    if has_status:
        status = int_or_fault(meta, "statuscode", changes["statuscode"])
        option = meta.status(status)
        if option is None:
            raise invalid_pair(meta, status, None, record_id, options)
        state = cur_state if isinstance(cur_state, int) else INITIAL_STATE
        if option.state != state:
            # The platform does not infer the state from the status reason.
            raise invalid_pair(meta, status, state, record_id, options)
        return state
    state = int_or_fault(meta, "statecode", changes["statecode"])
    if meta.state(state) is None:
        raise invalid_state(meta, state, options)
    if state == cur_state:
        return state
    if options.statecode_only_sets_default_status:
        changes["statuscode"] = default_status(meta, state, options)
        return state
    option = meta.status(cur_status) if isinstance(cur_status, int) else None
    if option is None or option.state != state:
        raise invalid_pair(meta, cur_status, state, record_id, options)
    return state


def _check_transition(
    meta: Table,
    current: Mapping[str, Any],
    target_state: int | None,
    record_id: str | None,
    options: FakeOptions,
    store: Store | None,
) -> None:
    cur_state = current.get("statecode")
    if target_state is None or target_state == cur_state:
        return
    if (
        meta.logical_name == "opportunity"
        and options.opportunity_close_requires_action
        and target_state in (1, 2)
    ):
        action = "WinOpportunity" if target_state == 1 else "LoseOpportunity"
        raise FakeFault(
            400,
            CODE_INVALID_ARGUMENT,
            f"An opportunity can't be closed by an update of statecode to "
            f"{state_name(meta, target_state)}; use the {action} action "
            f"(opportunity Id {record_id}).",
        )
    if (
        meta.logical_name == "lead"
        and target_state == 2
        and options.disqualify_requires_no_open_opportunity
        and store is not None
        and record_id
    ):
        linked = store.find(
            "opportunity",
            lambda r: r.get("originatingleadid") == record_id and r.get("statecode") == 0,
        )
        if linked:
            raise FakeFault(
                400,
                CODE_INVALID_ARGUMENT,
                f"You can disqualify a lead only if there's no open opportunity associated with "
                f"it; lead {record_id} has open opportunity {linked[0]['opportunityid']}.",
            )
