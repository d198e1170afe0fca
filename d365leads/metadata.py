"""Status-reason metadata read from the org, so tenant-defined reasons work and bad ones fail early.

The options come from
``EntityDefinitions(LogicalName='<table>')/Attributes(LogicalName='statuscode')/``
``Microsoft.Dynamics.CRM.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api);
each ``StatusOptionMetadata`` carries ``Value``, ``State`` and ``Label``. They are cached per
client: call :meth:`StatusMetadata.clear` after changing the org's customisations.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from d365leads.errors import (
    BadRequestError,
    InvalidStatusError,
    NotFoundError,
    NotSupportedError,
)
from d365leads.http.pipeline import ApiSession
from d365leads.models.enums import (
    AccountStatus,
    ContactStatus,
    LeadStatus,
    OpportunityStatus,
)

__all__ = [
    "StatusMetadata",
    "StatusReason",
    "StatusReasons",
    "default_status_reasons",
    "parse_status_metadata",
    "status_metadata_path",
]

_DEFAULTS: Mapping[str, type[IntEnum]] = {
    "lead": LeadStatus,
    "opportunity": OpportunityStatus,
    "account": AccountStatus,
    "contact": ContactStatus,
}


def status_metadata_path(table: str) -> str:
    """The request path (relative to the API base) of ``table``'s status options."""
    return (
        f"EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='statuscode')"
        "/Microsoft.Dynamics.CRM.StatusAttributeMetadata"
    )


@dataclass(frozen=True)
class StatusReason:
    """One ``statuscode`` option: its value, the ``statecode`` it belongs to and its label."""

    value: int
    state: int
    label: str


@dataclass(frozen=True)
class StatusReasons:
    """Every status reason of one table.

    ``source`` is ``"org"`` when read from the org's metadata, ``"default"`` when the org did
    not serve metadata and the out-of-the-box reasons are used instead.
    """

    table: str
    options: tuple[StatusReason, ...]
    source: Literal["org", "default"] = "org"

    def of_state(self, state: int) -> list[StatusReason]:
        """The reasons that belong to ``state``."""
        return [o for o in self.options if o.state == int(state)]

    def find(self, value: int) -> StatusReason | None:
        """The reason with ``value``, or ``None``."""
        return next((o for o in self.options if o.value == int(value)), None)

    def check(self, status: int, state: int, *, state_label: str | None = None) -> StatusReason:
        """Return the reason ``status`` if it belongs to ``state``, else raise.

        :raises InvalidStatusError: naming the valid reasons for the state.
        """
        if isinstance(status, bool) or not isinstance(status, int):
            raise InvalidStatusError(
                f"a {self.table} status reason must be an int or a status enum, "
                f"got {type(status).__name__} {status!r}"
            )
        found = self.find(status)
        if found is not None and found.state == int(state):
            return found
        valid = ", ".join(f"{o.value} ({o.label})" for o in self.of_state(state)) or "none"
        where = state_label or f"state {int(state)}"
        if found is None:
            extra = (
                " (the org's status metadata could not be read, so only the out-of-the-box "
                "reasons are known)"
                if self.source == "default"
                else ""
            )
            problem = f"{int(status)} is not a status reason of {self.table}{extra}"
        else:
            problem = (
                f"{int(status)} ({found.label}) belongs to another {self.table} state, not {where}"
            )
        raise InvalidStatusError(f"{problem}; valid reasons for {where}: {valid}")


def _label(option: Mapping[str, Any]) -> str:
    label = option.get("Label")
    if isinstance(label, Mapping):
        user = label.get("UserLocalizedLabel")
        if isinstance(user, Mapping) and user.get("Label"):
            return str(user["Label"])
        for localized in label.get("LocalizedLabels") or ():
            if isinstance(localized, Mapping) and localized.get("Label"):
                return str(localized["Label"])
    return str(option.get("Value"))


def parse_status_metadata(table: str, body: Mapping[str, Any]) -> StatusReasons:
    """Parse a ``StatusAttributeMetadata`` response (with ``OptionSet`` expanded)."""
    option_set = body.get("OptionSet")
    options: Iterable[Any] = (
        option_set.get("Options", ()) if isinstance(option_set, Mapping) else ()
    )
    reasons = tuple(
        StatusReason(value=int(o["Value"]), state=int(o["State"]), label=_label(o))
        for o in options
        if isinstance(o, Mapping) and o.get("Value") is not None and o.get("State") is not None
    )
    if not reasons:
        raise InvalidStatusError(
            f"the org returned no status reasons for {table}; check the table name"
        )
    return StatusReasons(table, reasons, "org")


def default_status_reasons(table: str) -> StatusReasons:
    """The out-of-the-box reasons of ``table`` (lead, opportunity, account, contact)."""
    enum = _DEFAULTS[table]
    reasons = tuple(
        StatusReason(
            value=member.value,
            state=int(member.state),  # type: ignore[attr-defined]
            label=member.name.replace("_", " ").title(),
        )
        for member in enum
    )
    return StatusReasons(table, reasons, "default")


class StatusMetadata:
    """Reads and caches status reasons per table for one client.

    :param session: the client's API session.
    :param use_org_metadata: set False to skip the metadata request and use only the
        out-of-the-box reasons.
    """

    def __init__(self, session: ApiSession, *, use_org_metadata: bool = True) -> None:
        self._session = session
        self._use_org = use_org_metadata
        self._cache: dict[str, StatusReasons] = {}
        self._lock = threading.Lock()

    def status_reasons(self, table: str) -> StatusReasons:
        """The status reasons of ``table`` (one request per table per client).

        Falls back to the out-of-the-box reasons when the org does not serve the metadata
        route (404/400/501), so the built-in checks still run.
        """
        with self._lock:
            cached = self._cache.get(table)
        if cached is not None:
            return cached
        reasons = self._load(table)
        with self._lock:
            self._cache.setdefault(table, reasons)
            return self._cache[table]

    def _load(self, table: str) -> StatusReasons:
        if not self._use_org:
            return default_status_reasons(table)
        try:
            body = self._session.get_json(
                status_metadata_path(table),
                params={"$select": "LogicalName", "$expand": "OptionSet"},
            )
        except (NotFoundError, NotSupportedError, BadRequestError):
            if table in _DEFAULTS:
                return default_status_reasons(table)
            raise
        return parse_status_metadata(table, body)

    def clear(self) -> None:
        """Forget the cached reasons (after the org's customisations changed)."""
        with self._lock:
            self._cache.clear()
