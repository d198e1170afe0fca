"""Status-reason metadata read from the org, so tenant-defined reasons work and bad ones fail early.

The options come from
``EntityDefinitions(LogicalName='<table>')/Attributes(LogicalName='statuscode')/``
``Microsoft.Dynamics.CRM.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api);
each ``StatusOptionMetadata`` carries ``Value``, ``State`` and ``Label``. They are cached per
client: call :meth:`StatusMetadata.clear` after changing the org's customisations.

The columns of a table (tenant columns included) come from
``EntityDefinitions(LogicalName='<table>')/Attributes?$select=LogicalName,AttributeType,``
``IsValidForCreate,IsValidForUpdate``: one ``AttributeMetadata`` per column, ``AttributeType``
being the ``AttributeTypeCode`` name (``String``, ``Integer``, ``Money``, ``Lookup``, ...).
:meth:`StatusMetadata.attributes` reads and caches them as :class:`TableAttributes`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from d365leads.errors import (
    BadRequestError,
    InvalidInputError,
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
    "AttributeInfo",
    "StatusMetadata",
    "StatusReason",
    "StatusReasons",
    "TableAttributes",
    "attributes_metadata_path",
    "default_status_reasons",
    "parse_attribute_metadata",
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


def attributes_metadata_path(table: str) -> str:
    """The request path (relative to the API base) of ``table``'s column definitions."""
    return f"EntityDefinitions(LogicalName='{table}')/Attributes"


_ATTRIBUTE_SELECT = "LogicalName,AttributeType,IsValidForCreate,IsValidForUpdate"


@dataclass(frozen=True)
class AttributeInfo:
    """One column of a table as the org defines it.

    ``type`` is the ``AttributeTypeCode`` name Dataverse reports (``String``, ``Memo``,
    ``Integer``, ``BigInt``, ``Decimal``, ``Double``, ``Money``, ``Boolean``, ``DateTime``,
    ``Lookup``, ``Customer``, ``Owner``, ``Picklist``, ``State``, ``Status``,
    ``Uniqueidentifier``, ``Virtual``, ...).
    """

    name: str
    type: str
    valid_for_create: bool
    valid_for_update: bool

    @property
    def writable(self) -> bool:
        """True when the column can be set on create or on update."""
        return self.valid_for_create or self.valid_for_update


@dataclass(frozen=True)
class TableAttributes:
    """Every column of one table, as read from the org's metadata."""

    table: str
    attributes: tuple[AttributeInfo, ...]

    def get(self, name: str) -> AttributeInfo | None:
        """The column ``name`` (logical name, case-insensitive), or ``None``."""
        wanted = name.lower()
        return next((a for a in self.attributes if a.name == wanted), None)

    @property
    def names(self) -> list[str]:
        """The logical names of every column."""
        return [a.name for a in self.attributes]


def parse_attribute_metadata(table: str, body: Mapping[str, Any]) -> TableAttributes:
    """Parse the ``{"value": [AttributeMetadata, ...]}`` answer of the ``Attributes`` query.

    Entries without a ``LogicalName`` are skipped; a missing ``AttributeType`` reads as
    ``"Virtual"`` and missing ``IsValidFor*`` flags as False (nothing is assumed writable).

    :raises InvalidInputError: when the body has no ``value`` list of attributes.
    """
    rows = body.get("value")
    if not isinstance(rows, list) or not rows:
        raise InvalidInputError(
            f"the org returned no column definitions for {table}; check the table name"
        )
    out: list[AttributeInfo] = []
    for row in rows:
        if not isinstance(row, Mapping) or not isinstance(row.get("LogicalName"), str):
            continue
        kind = row.get("AttributeType")
        out.append(
            AttributeInfo(
                name=str(row["LogicalName"]).lower(),
                type=str(kind) if isinstance(kind, str) and kind else "Virtual",
                valid_for_create=row.get("IsValidForCreate") is True,
                valid_for_update=row.get("IsValidForUpdate") is True,
            )
        )
    return TableAttributes(table, tuple(out))


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


# Out-of-the-box labels that are not the enum name in title case.
_DEFAULT_LABELS: dict[tuple[str, int], str] = {("opportunity", 5): "Out-Sold"}


def default_status_reasons(table: str) -> StatusReasons:
    """The out-of-the-box reasons of ``table`` (lead, opportunity, account, contact)."""
    enum = _DEFAULTS[table]
    reasons = tuple(
        StatusReason(
            value=member.value,
            state=int(member.state),  # type: ignore[attr-defined]
            label=_DEFAULT_LABELS.get((table, member.value), member.name.replace("_", " ").title()),
        )
        for member in enum
    )
    return StatusReasons(table, reasons, "default")


class StatusMetadata:
    """Reads and caches status reasons and column definitions per table for one client.

    :param session: the client's API session.
    :param use_org_metadata: set False to skip the metadata request and use only the
        out-of-the-box reasons.
    """

    def __init__(self, session: ApiSession, *, use_org_metadata: bool = True) -> None:
        self._session = session
        self._use_org = use_org_metadata
        self._cache: dict[str, StatusReasons] = {}
        self._attributes: dict[str, TableAttributes] = {}
        self._lock = threading.Lock()

    def attributes(self, table: str) -> TableAttributes:
        """The columns of ``table`` as the org defines them (one request per table per client).

        Unlike :meth:`status_reasons` there is no fallback: an org that does not serve the
        route raises (``NotFoundError``, ``NotSupportedError``, ``BadRequestError``), and the
        caller decides what an unchecked column means. Failures are not cached.
        """
        with self._lock:
            cached = self._attributes.get(table)
        if cached is not None:
            return cached
        body = self._session.get_json(
            attributes_metadata_path(table), params={"$select": _ATTRIBUTE_SELECT}
        )
        found = parse_attribute_metadata(table, body)
        with self._lock:
            self._attributes.setdefault(table, found)
            return self._attributes[table]

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
        """Forget the cached reasons and columns (after the org's customisations changed)."""
        with self._lock:
            self._cache.clear()
            self._attributes.clear()
