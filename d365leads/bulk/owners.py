"""Find the new owner of a ``bulk assign`` job: a user or a team, by id or by name, once.

A GUID is looked up among users, then teams.  A name is matched against a user's domain name
(``someone@contoso.com``), full name or primary email, and a team's name (case-insensitive);
no match or several matches is an error that lists near matches or the candidates, so a job
never starts with the wrong owner.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from d365leads.errors import InvalidIdError, InvalidInputError, NotFoundError
from d365leads.odata.literals import literal, normalize_guid

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["Owner", "resolve_owner"]

_USER_SELECT = "systemuserid,fullname,domainname,internalemailaddress"
_TEAM_SELECT = "teamid,name,teamtype"
_LISTED = 5000  # enough to suggest near names in any org a person picks owners from


@dataclass(frozen=True)
class Owner:
    """A user (``systemuser``) or team (``team``) that records can be assigned to."""

    table: str
    id: str
    name: str

    def describe(self) -> str:
        """``team 'Sales West' (<id>)``."""
        kind = "user" if self.table == "systemuser" else "team"
        return f"{kind} {self.name!r} ({self.id})"


def _user(row: dict[str, Any]) -> Owner:
    name = row.get("domainname") or row.get("fullname") or row.get("systemuserid")
    return Owner("systemuser", str(row["systemuserid"]).lower(), str(name))


def _team(row: dict[str, Any]) -> Owner:
    return Owner("team", str(row["teamid"]).lower(), str(row.get("name") or row["teamid"]))


def _rows(session: ApiSession, entity_set: str, params: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in session.iter_pages(entity_set, params=params):
        rows.extend(page.rows)
    return rows


def _by_id(session: ApiSession, guid: str) -> Owner:
    try:
        return _user(session.get_json(f"systemusers({guid})", params={"$select": _USER_SELECT}))
    except NotFoundError:
        pass
    try:
        return _team(session.get_json(f"teams({guid})", params={"$select": _TEAM_SELECT}))
    except NotFoundError:
        raise InvalidInputError(f"no user or team has the id {guid}") from None


def resolve_owner(session: ApiSession, text: str, *, table: str | None = None) -> Owner:
    """The user or team ``text`` names (see the module docstring); ``table`` narrows it to
    ``systemuser`` or ``team``."""
    wanted = text.strip()
    if not wanted:
        raise InvalidInputError("name the new owner: a user or team, by name or id")
    try:
        guid = normalize_guid(wanted, what="owner")
    except InvalidIdError:
        guid = None
    if guid is not None:
        owner = _by_id(session, guid)
        if table is not None and owner.table != table:
            raise InvalidInputError(f"{owner.describe()} is not a {table}")
        return owner
    value = literal(wanted)
    users: list[Owner] = []
    teams: list[Owner] = []
    if table in (None, "systemuser"):
        condition = " or ".join(
            f"{c} eq {value}" for c in ("domainname", "fullname", "internalemailaddress")
        )
        users = [
            _user(r)
            for r in _rows(session, "systemusers", {"$select": _USER_SELECT, "$filter": condition})
        ]
    if table in (None, "team"):
        teams = [
            _team(r)
            for r in _rows(
                session, "teams", {"$select": _TEAM_SELECT, "$filter": f"name eq {value}"}
            )
        ]
    found = users + teams
    if len(found) == 1:
        return found[0]
    if found:
        listed = "; ".join(o.describe() for o in found)
        raise InvalidInputError(
            f"{wanted!r} names {len(found)} owners: {listed}; give the id of the one you mean"
        )
    raise InvalidInputError(f"no user or team is named {wanted!r}{_near(session, wanted, table)}")


def _near(session: ApiSession, wanted: str, table: str | None) -> str:
    names: list[str] = []
    if table in (None, "systemuser"):
        for row in _rows(session, "systemusers", {"$select": _USER_SELECT, "$top": str(_LISTED)}):
            names.extend(str(row[c]) for c in ("domainname", "fullname") if row.get(c))
    if table in (None, "team"):
        for row in _rows(session, "teams", {"$select": _TEAM_SELECT, "$top": str(_LISTED)}):
            if row.get("name"):
                names.append(str(row["name"]))
    lowered = {n.lower(): n for n in names}
    near = difflib.get_close_matches(wanted.lower(), list(lowered), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(repr(lowered[n]) for n in near)}?" if near else ""
