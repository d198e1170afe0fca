"""Helpers for the lifecycle tests that run against the fake Dataverse."""

from __future__ import annotations

import copy
from typing import Any

from d365leads.fake import FakeDataverse

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


def writes(fake: FakeDataverse) -> list[str]:
    """``METHOD path`` of every write request the fake received."""
    return [f"{r.method} {r.path}" for r, _ in fake.journal if r.method in WRITE_METHODS]


def snapshot(fake: FakeDataverse) -> dict[str, list[dict[str, Any]]]:
    """A deep copy of the business tables, to assert that nothing changed."""
    return {
        table: sorted(copy.deepcopy(fake.rows(table)), key=lambda r: str(r))
        for table in ("lead", "account", "contact", "opportunity")
    }


def seed_lead(fake: FakeDataverse, **columns: Any) -> str:
    """Seed one lead and return its id."""
    row = {"subject": "Website inquiry", **columns}
    return fake.seed("lead", row)[0]
