"""The column values of a ``bulk update`` or ``bulk assign`` job, checked before anything is sent.

Two steps, both before the job is journalled:

* :func:`normalise_changes` (offline, from the :class:`~d365leads.models.lead.Lead` model) turns
  what the user gave into the PATCH body: ``statecode``/``statuscode`` are refused (state
  changes are the reactivate, disqualify and qualify jobs), read-only columns are refused, and
  a lookup given as ``Lookup.to(table, id)``, ``"table(id)"`` text or a bare GUID becomes its
  ``<nav>@odata.bind: "/<entityset>(<id>)"`` key
  (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api).
* :func:`check_changes` checks the body against the org's column definitions (tenant columns
  included): unknown columns (with near matches), columns not valid for update, values of the
  wrong type and choice values the column does not have; text values (``--set col=text``) are
  converted to the column's type.  An org that does not serve its column definitions gets the
  same checks against the :class:`~d365leads.models.lead.Lead` model (its columns only; choice
  values unchecked), and ``on_check`` hears which of the two was used.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import re
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from d365leads.errors import (
    BadRequestError,
    InvalidInputError,
    NotFoundError,
    NotSupportedError,
)
from d365leads.metadata import AttributeInfo, StatusMetadata, TableAttributes
from d365leads.models.lead import Lead
from d365leads.models.lookup import ENTITY_SETS, Lookup
from d365leads.odata.literals import normalize_guid

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = [
    "CHECKED_BY_MODEL",
    "CHECKED_BY_ORG",
    "check_changes",
    "normalise_changes",
    "owner_bind",
    "parse_assignments",
]

_BIND = "@odata.bind"
_REFERENCE = re.compile(r"^\s*/?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([^()]*?)\s*\)\s*$")
_STATE_HINT = (
    "{column} is the lead's state: change it with 'd365leads bulk reactivate', 'bulk "
    "disqualify' or 'bulk qualify' (JobSpec.reactivate/disqualify/qualify), which follow "
    "the lead's state rules; bulk update only writes other columns"
)
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}
_NUMBER_TYPES = {"Integer", "BigInt", "Decimal", "Double", "Money"}
_LOOKUP_TYPES = {"Lookup", "Customer", "Owner"}
CHECKED_BY_ORG = "values checked against the org's column definitions"
CHECKED_BY_MODEL = (
    "the org does not serve its column definitions: values checked against d365leads' Lead "
    "model (its columns only; tenant columns are refused, choice values are not checked)"
)
_MODEL_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "Boolean"),
    (int, "Integer"),
    (Decimal, "Decimal"),
    (float, "Double"),
    (_dt.datetime, "DateTime"),
    (_dt.date, "DateTime"),
    (str, "String"),
)


def parse_assignments(texts: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``column=value`` texts (``--set``) into a dict; an empty value clears the column."""
    out: dict[str, str] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInputError(
                f"--set {text!r}: write column=value (for example leadsourcecode=8, "
                "parentaccountid=account(<id>), or column= to clear it)"
            )
        if name.lower() in out:
            raise InvalidInputError(f"--set names the column {name!r} twice")
        out[name.lower()] = value
    return out


def _logical_table(name: str) -> str:
    wanted = name.strip().lower()
    for logical, entity_set in ENTITY_SETS.items():
        if wanted in (logical, entity_set):
            return logical
    known = ", ".join(sorted(ENTITY_SETS))
    raise InvalidInputError(f"unknown table {name!r} in a lookup value; use one of: {known}")


def owner_bind(table: str, owner_id: str) -> tuple[str, str]:
    """``("ownerid@odata.bind", "/systemusers(<id>)")`` or the same for a team."""
    logical = _logical_table(table)
    if logical not in ("systemuser", "team"):
        raise InvalidInputError(f"a lead is owned by a systemuser or a team, not a {logical}")
    guid = normalize_guid(owner_id, what="the owner id")
    return f"ownerid{_BIND}", f"/{ENTITY_SETS[logical]}({guid})"


def _reference(column: str, value: Any, targets: tuple[str, ...]) -> tuple[str, str] | None:
    """``(table, id)`` of a lookup value, ``None`` to clear it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, Lookup):
        table, raw = value.table, str(value.id)
    elif isinstance(value, str) and (match := _REFERENCE.match(value)):
        table, raw = _logical_table(match.group(1)), match.group(2).strip("'\"")
    else:
        table, raw = None, str(value)
    if table is None:
        if len(targets) != 1:
            raise InvalidInputError(
                f"{column} can point to {' or '.join(targets)}: write {column}=<table>(<id>)"
            )
        table = targets[0]
    if table not in targets:
        raise InvalidInputError(
            f"{column} points to {' or '.join(targets)}, not to {table} records"
        )
    return table, normalize_guid(raw, what=f"the id given for {column}")


def _plain(column: str, value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidInputError(f"{column}: cannot send a {type(value).__name__} value")


def normalise_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH body of ``changes`` (see the module docstring); raises naming the column."""
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidInputError("give at least one column to change")
    body: dict[str, Any] = {}
    navigations = {spec.navigation: name for name, spec in Lead.lookups.items()}
    for raw_name, value in changes.items():
        name = str(raw_name).strip()
        low = name.lower()
        if low in ("statecode", "statuscode"):
            raise InvalidInputError(_STATE_HINT.format(column=low))
        if low.endswith(_BIND.lower()):
            nav = name[: -len(_BIND)]
            column = navigations.get(nav) or navigations.get(nav.rsplit("_", 1)[0])
            spec = Lead.lookups.get(column) if column else None
            if spec is not None and spec.read_only:
                raise InvalidInputError(f"lead.{column} is set by Dataverse and cannot be written")
            found = _reference(nav, value, spec.targets if spec else tuple(ENTITY_SETS))
            key, bound = f"{nav}{_BIND}", None
            if found is not None:
                bound = f"/{ENTITY_SETS[found[0]]}({found[1]})"
        elif low in Lead.lookups:
            spec = Lead.lookups[low]
            if spec.read_only:
                raise InvalidInputError(f"lead.{low} is set by Dataverse and cannot be written")
            found = _reference(low, value, spec.targets)
            if found is None and (spec.polymorphic or low == "ownerid"):
                raise InvalidInputError(
                    "a lead always has an owner; assign it to someone instead"
                    if low == "ownerid"
                    else f"clearing {low} needs the table: write {low}@odata.bind= with "
                    f"{spec.navigation}_<table>"
                )
            key = spec.bind_key(found[0] if found else None)
            bound = f"/{ENTITY_SETS[found[0]]}({found[1]})" if found else None
        else:
            if low in Lead.read_only or low == Lead.primary_key:
                raise InvalidInputError(
                    f"lead.{low} is read-only (Dataverse sets it); it cannot be updated"
                )
            body[low] = _plain(low, value)
            continue
        if key in body:
            raise InvalidInputError(f"{key.removesuffix(_BIND)} is given twice")
        body[key] = bound
    return body


# --- against the org's column definitions ---------------------------------------------------


def _model_kind(name: str, annotation: Any) -> str:
    """The ``AttributeType`` a Lead model field stands for (``Virtual`` when none fits)."""
    if name in Lead.lookups:
        return "Owner" if name == "ownerid" else "Lookup"
    if name in ("statecode", "statuscode"):
        return "State" if name == "statecode" else "Status"
    types = [t for t in (typing.get_args(annotation) or (annotation,)) if isinstance(t, type)]
    for wanted, kind in _MODEL_KINDS:
        if any(issubclass(t, wanted) for t in types):
            return kind
    return "Virtual"


def _fallback_attributes() -> TableAttributes:
    """Columns of the Lead model, for an org that does not serve its column definitions."""
    out = []
    for name, field in Lead.model_fields.items():
        spec = Lead.lookups.get(name)
        writable = (
            name not in Lead.read_only
            and name != Lead.primary_key
            and not (spec is not None and spec.read_only)
        )
        out.append(AttributeInfo(name, _model_kind(name, field.annotation), writable, writable))
    return TableAttributes("lead", tuple(out))


def _options(session: ApiSession, column: str) -> dict[int, str] | None:
    """A choice column's values and labels, or ``None`` when the org will not say."""
    path = (
        f"EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='{column}')"
        "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    )
    try:
        body = session.get_json(path, params={"$select": "LogicalName", "$expand": "OptionSet"})
    except (NotFoundError, NotSupportedError, BadRequestError):
        return None
    options = (body.get("OptionSet") or {}).get("Options") or []
    out: dict[int, str] = {}
    for option in options:
        if isinstance(option, Mapping) and isinstance(option.get("Value"), int):
            label = ((option.get("Label") or {}).get("UserLocalizedLabel") or {}).get("Label")
            out[int(option["Value"])] = str(label or option["Value"])
    return out or None


def _unknown(column: str, attributes: TableAttributes, by_model: bool) -> InvalidInputError:
    near = difflib.get_close_matches(column, attributes.names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    source = f" ({CHECKED_BY_MODEL})" if by_model else ""
    return InvalidInputError(f"the lead table has no column {column!r}{hint}{source}")


def _coerce(info: AttributeInfo, value: Any, options: Callable[[], dict[int, str] | None]) -> Any:
    name, kind = info.name, info.type
    if value is None or (isinstance(value, str) and value == ""):
        return None  # an empty value clears the column (--set column=)
    if kind in ("String", "Memo"):
        if not isinstance(value, str):
            raise InvalidInputError(f"lead.{name} is text; got {value!r}")
        return value
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise InvalidInputError(f"lead.{name} is yes/no; got {value!r} (use true or false)")
    if kind == "DateTime":
        text = str(value).strip()
        try:
            _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                f"lead.{name} is a date; got {value!r} (use 2026-12-31 or 2026-12-31T09:00:00Z)"
            ) from None
        return text
    if kind in _NUMBER_TYPES or kind == "Picklist":
        choice = kind == "Picklist"
        number = _number(
            name, value, integer=kind in ("Integer", "BigInt", "Picklist"), labels=choice
        )
        if not choice:
            return number
        known = options()
        if known is None:
            if isinstance(number, str):
                raise InvalidInputError(
                    f"lead.{name}: the org does not list its choices; give the number, "
                    f"not {value!r}"
                )
            return number
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            labels = {label.lower(): v for v, label in known.items()}
            if value.strip().lower() in labels:
                return labels[value.strip().lower()]
        if number not in known:
            listed = ", ".join(f"{v} ({label})" for v, label in sorted(known.items()))
            raise InvalidInputError(f"lead.{name} has no choice {value!r}; its choices: {listed}")
        return number
    if kind in _LOOKUP_TYPES:
        raise InvalidInputError(
            f"lead.{name} is a lookup: write {name}=<table>(<id>) or {name}@odata.bind=/<set>(<id>)"
        )
    raise InvalidInputError(f"lead.{name} ({kind}) cannot be written by bulk update")


def _number(name: str, value: Any, *, integer: bool, labels: bool = False) -> Any:
    if isinstance(value, bool):
        raise InvalidInputError(f"lead.{name} is a number; got {value!r}")
    if isinstance(value, int) or (isinstance(value, float) and not integer):
        return value
    text = str(value).strip()
    try:
        return int(text) if integer else float(text)
    except ValueError:
        pass
    if labels and isinstance(value, str):
        return text  # a choice given by its label; the caller looks it up
    raise InvalidInputError(f"lead.{name} is a number; got {value!r}")


def check_changes(
    session: ApiSession,
    body: Mapping[str, Any],
    *,
    metadata: StatusMetadata | None = None,
    on_check: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Check (and type) a PATCH body against the org's lead columns; raise naming the column.

    ``on_check`` is told which check ran (:data:`CHECKED_BY_ORG` or :data:`CHECKED_BY_MODEL`,
    for an org that does not serve its column definitions) before any value is checked.
    """
    by_model = False
    try:
        attributes = (metadata or StatusMetadata(session)).attributes("lead")
    except (NotFoundError, NotSupportedError, BadRequestError):
        attributes, by_model = _fallback_attributes(), True
    if on_check is not None:
        on_check(CHECKED_BY_MODEL if by_model else CHECKED_BY_ORG)
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key.endswith(_BIND):
            nav = key[: -len(_BIND)]
            info = attributes.get(nav) or attributes.get(nav.rsplit("_", 1)[0])
            if info is None:
                raise _unknown(nav, attributes, by_model)
            if not info.valid_for_update:
                raise InvalidInputError(f"lead.{info.name} cannot be updated")
            out[key] = value
            continue
        info = attributes.get(key)
        if info is None:
            raise _unknown(key, attributes, by_model)
        if info.type in ("State", "Status"):
            raise InvalidInputError(_STATE_HINT.format(column=info.name))
        if not info.valid_for_update:
            raise InvalidInputError(
                f"lead.{info.name} is read-only (not valid for update in this org)"
            )
        out[info.name] = _coerce(info, value, functools.partial(_options, session, info.name))
    return out
