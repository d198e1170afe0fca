"""``--set col=value`` parsing shared by every create/update command."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from d365leads.cli.errors import UsageProblem
from d365leads.models import DataverseModel, Lookup, parse_id

__all__ = ["parse_assignments", "typed_lookups"]


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``col=value`` (text; empty clears the column) or ``col:=JSON`` (typed value)."""
    changes: dict[str, Any] = {}
    for item in items:
        eq = item.find("=")
        if eq > 0 and item[eq - 1] == ":":
            column, _, raw = item.partition(":=")
            try:
                value: Any = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise UsageProblem(
                    f"--set {item!r}: the value after ':=' must be JSON ({exc.msg})",
                    hint='e.g. --set leadsourcecode:=8 or --set description:="text"',
                ) from None
        elif "=" in item:
            column, _, text = item.partition("=")
            value = text if text != "" else None
        else:
            raise UsageProblem(
                f"--set {item!r} is not column=value",
                hint="e.g. --set jobtitle=CTO, --set leadsourcecode:=8, --set telephone1= (clears)",
            )
        column = column.strip()
        if not column.isidentifier():
            raise UsageProblem(f"--set {item!r}: {column!r} is not a column name")
        if column in changes:
            raise UsageProblem(f"--set gives {column!r} twice")
        changes[column] = value
    return changes


def typed_lookups(model: type[DataverseModel], changes: dict[str, Any]) -> dict[str, Any]:
    """Lookup columns given as ``table:ID`` (or a bare ID for one-table lookups) become
    :class:`~d365leads.models.Lookup` values, so ``--set parentcustomerid=account:ID`` works."""
    result = dict(changes)
    for column, value in changes.items():
        spec = model.lookups.get(column)
        if spec is None or not isinstance(value, str):
            continue
        table, sep, raw = value.partition(":")
        if not sep:
            if len(spec.targets) > 1:
                raise UsageProblem(
                    f"--set {column}={value}: say which table it points to",
                    hint=f"use {column}=" + " or ".join(f"{t}:ID" for t in spec.targets),
                )
            table, raw = spec.targets[0], value
        if table not in spec.targets:
            raise UsageProblem(
                f"--set {column}={value}: {column} points to {', '.join(spec.targets)}, not {table}"
            )
        result[column] = Lookup.to(table, parse_id(raw, what=f"{column} id"))
    return result
