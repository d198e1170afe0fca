"""CreateMultiple, UpdateMultiple and UpsertMultiple over the store: all or nothing.

On standard tables each bulk message runs in one transaction: if any record fails, none is
written and the request answers that record's error
(https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations#standard-and-elastic-table-usage).
Each record goes through the same rules as a single write
(:func:`~d365leads.fake.org.records.create_record` / ``update_record``).  The targets arrive as
attribute dicts (the handler turned each body into attributes) with the key each one names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core.fault import CODE_INVALID_ARGUMENT, FakeFault, not_found
from ..core.values import Row
from .records import create_record, update_record
from .schema import Table
from .state import OrgState
from .values import KeySpec, coerce_value, key_text, resolve_key

__all__ = ["BulkTarget", "create_many", "update_many", "upsert_many"]


@dataclass(frozen=True)
class BulkTarget:
    """One record of a bulk message: its attributes and the key it names (if any)."""

    attrs: Row
    key: KeySpec | None = None


def create_many(
    org: OrgState, meta: Table, targets: Sequence[BulkTarget], *, duplicate_check: bool = False
) -> list[str]:
    """Create every target in one transaction; the new ids in target order."""
    with org.store.transaction():
        return [
            str(
                create_record(org, meta, t.attrs, duplicate_check=duplicate_check)[meta.primary_key]
            )
            for t in targets
        ]


def _check_state(org: OrgState, meta: Table, attrs: Row) -> None:
    if org.options.update_multiple_sets_state:
        return
    changed = sorted(name for name in ("statecode", "statuscode") if name in attrs)
    if changed:
        raise FakeFault(
            400,
            CODE_INVALID_ARGUMENT,
            f"UpdateMultiple cannot set {' or '.join(changed)} of '{meta.logical_name}' in "
            "this org; change the state with one Update request per record.",
        )


def update_many(
    org: OrgState, meta: Table, targets: Sequence[BulkTarget], *, duplicate_check: bool = False
) -> list[str]:
    """Update every target in one transaction (404 for the first missing one); their ids."""
    with org.store.transaction():
        done: list[str] = []
        for target in targets:
            _check_state(org, meta, target.attrs)
            key = target.key
            assert key is not None  # the handler refuses a target without a key
            record_id = resolve_key(org, meta, key)
            if record_id is None:
                raise not_found(meta.logical_name, key_text(key))
            update_record(org, meta, record_id, target.attrs, duplicate_check=duplicate_check)
            done.append(record_id)
        return done


def upsert_many(
    org: OrgState, meta: Table, targets: Sequence[BulkTarget], *, duplicate_check: bool = False
) -> list[str]:
    """Create or update every target in one transaction; the ids in target order."""
    with org.store.transaction():
        done: list[str] = []
        for target in targets:
            key = target.key
            assert key is not None  # the handler refuses a target without a key
            record_id = resolve_key(org, meta, key)
            if record_id is not None:
                update_record(org, meta, record_id, target.attrs, duplicate_check=duplicate_check)
                done.append(record_id)
                continue
            attrs = dict(target.attrs)
            if isinstance(key, str):
                attrs[meta.primary_key] = key
            else:
                for name, value in key.items():
                    column = meta.column(name)
                    if column is not None:
                        attrs[name] = coerce_value(meta, column, value)
            row = create_record(org, meta, attrs, duplicate_check=duplicate_check)
            done.append(str(row[meta.primary_key]))
        return done
