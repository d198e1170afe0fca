"""The ``team`` table, and the owner lookup that points at a user or a team.

A record in Dataverse is owned by a user or a team: ``ownerid`` is a polymorphic lookup whose
one navigation property ``ownerid`` binds to ``/systemusers(<id>)`` or ``/teams(<id>)``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/principal),
and the platform keeps ``owninguser`` or ``owningteam`` in step with it (the other one empty).
Assigning a record is an update of ``ownerid``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api#assign-a-record).
Only owner teams (``teamtype`` 0) can own records; access teams cannot
(https://learn.microsoft.com/power-platform/admin/manage-teams).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import Any

from ..core.fault import CODE_INVALID_ARGUMENT, FakeFault
from .schema import Column, Table

__all__ = [
    "OWNER_TARGETS",
    "TEAM",
    "check_owner_team",
    "owner_column",
    "owning_columns",
    "sync_owning",
]

OWNER_TARGETS = ("systemuser", "team")

_TEAM_TYPES = MappingProxyType({0: "Owner", 1: "Access", 2: "Security Group", 3: "Office Group"})

TEAM = Table(
    "team",
    "teams",
    "teamid",
    "name",
    (
        Column("teamid", "guid", "Team"),
        Column("name", "string", "Team Name", max_length=160),
        Column("description", "memo", "Description", max_length=2000),
        Column("businessunitid", "guid", "Business Unit"),
        Column("teamtype", "picklist", "Team Type", options=_TEAM_TYPES),
        Column("isdefault", "bool", "Is Default", readonly=True, options={0: "No", 1: "Yes"}),
        Column("emailaddress", "string", "Email", max_length=100),
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    ownership="none",
)
"""Teams (entity set ``teams``); ``teamtype`` 0 (Owner) teams can own records."""


def owner_column() -> Column:
    """``ownerid``: a user or a team, written through the navigation property ``ownerid``."""
    return Column(
        "ownerid",
        "owner",
        "Owner",
        targets=OWNER_TARGETS,
        navigation=MappingProxyType(dict.fromkeys(OWNER_TARGETS, "ownerid")),
    )


def owning_columns() -> tuple[Column, ...]:
    """``owninguser`` and ``owningteam``: read-only, kept in step with ``ownerid``."""
    return (
        Column(
            "owninguser",
            "lookup",
            "Owning User",
            readonly=True,
            targets=("systemuser",),
            navigation=MappingProxyType({"systemuser": "owninguser"}),
        ),
        Column(
            "owningteam",
            "lookup",
            "Owning Team",
            readonly=True,
            targets=("team",),
            navigation=MappingProxyType({"team": "owningteam"}),
        ),
    )


def sync_owning(row: MutableMapping[str, Any], columns: Mapping[str, Column]) -> None:
    """Set ``owninguser``/``owningteam`` from ``ownerid`` and ``owneridtype`` (in place)."""
    if "ownerid" not in columns or "owninguser" not in columns:
        return
    owner = row.get("ownerid")
    kind = row.get("owneridtype") or ("systemuser" if owner else None)
    row["owninguser"] = owner if kind == "systemuser" else None
    row["owningteam"] = owner if kind == "team" else None


def check_owner_team(team: Mapping[str, Any] | None) -> None:
    """Refuse an access team (``teamtype`` other than 0) as the owner of a record.

    Documented: only owner teams own records. The status and code of the refusal are
    UNCONFIRMED (400 ``0x80040203``, the invalid-argument code).
    """
    if team is not None and team.get("teamtype") not in (None, 0):
        raise FakeFault(
            400,
            CODE_INVALID_ARGUMENT,
            f"The team '{team.get('name')}' is not an owner team (teamtype "
            f"{team.get('teamtype')}); only owner teams can own records.",
        )
