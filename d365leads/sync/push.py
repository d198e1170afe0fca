"""Push leads from a CSV file: validated as a whole, then written as upserts through ``$batch``.

1. **Validate every row before the first write.** Unknown or read-only columns, bad e-mail
   addresses, bad numbers, dates or GUIDs, unknown status reasons or lead sources, values that
   are too long, missing or repeated match values, and updates of closed leads are reported by
   line number. A file with any invalid row writes nothing (unless ``skip_invalid``).
   Columns the library does not model (tenant columns such as ``new_score``) are checked
   against the org's column definitions, read once per push and only when the header has
   such columns: a writable ``String``/``Memo``/``Integer``/``BigInt``/``Decimal``/``Double``/
   ``Money``/``Boolean``/``DateTime`` column is converted by its type and validated per line
   like the modelled ones; when the org does not serve the definitions the column is refused,
   saying it could not be checked.
2. **Match** each row to an existing lead: by ``leadid`` when the row has one; by an alternate
   key (``PATCH leads(key='v')``, Dataverse decides create or update) when ``alternate_key`` is
   set; otherwise by looking the match column up (``$filter=emailaddress1 eq ...``).
3. **Write** through :class:`~d365leads.batch.BatchRequest` (100 independent operations per
   ``$batch`` with continue-on-error), sent by the client's session: auth, retry and the shared
   throttle state (a 429 pauses every writer) apply. Updates carry ``If-Match: *`` so they can
   never create a record by accident.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from d365leads.batch import BatchRequest, OperationResult
from d365leads.errors import (
    BadRequestError,
    DataverseError,
    InvalidIdError,
    InvalidInputError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
)
from d365leads.http.pipeline import ApiSession
from d365leads.metadata import AttributeInfo, StatusMetadata, TableAttributes
from d365leads.models import Lead, LeadState, entity_set_of
from d365leads.odata.literals import literal, normalize_guid
from d365leads.records import entity_path, odata_bind
from d365leads.sync._session import SessionSource, session_of
from d365leads.sync.tables import LEAD

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CsvValidationError",
    "PushOutcome",
    "PushResult",
    "RowError",
    "push_csv",
    "read_csv",
]

DEFAULT_BATCH_SIZE = 100

Action = Literal["create", "update", "upsert", "invalid", "failed", "skipped"]

_EMAIL = re.compile(r"^[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+$")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}

_MAX_LENGTH = {
    "subject": 300,
    "firstname": 50,
    "middlename": 50,
    "lastname": 50,
    "companyname": 100,
    "jobtitle": 100,
    "emailaddress1": 100,
    "telephone1": 50,
    "mobilephone": 20,
    "websiteurl": 200,
    "address1_line1": 250,
    "address1_line2": 250,
    "address1_line3": 250,
    "address1_city": 80,
    "address1_stateorprovince": 50,
    "address1_postalcode": 20,
    "address1_country": 80,
    "description": 2000,
    "qualificationcomments": 2000,
}
# Writable single-target lookups of the Lead model -> entity set bound to (an owner is bound
# to its first target, a user).
_LOOKUP_SETS = {
    name: entity_set_of(spec.targets[0])
    for name, spec in Lead.lookups.items()
    if not spec.read_only and not spec.polymorphic
}
_READ_ONLY = {
    "fullname": "it is computed from firstname and lastname",
    "createdon": "Dataverse sets it",
    "modifiedon": "Dataverse sets it",
    "createdby": "Dataverse sets it",
    "modifiedby": "Dataverse sets it",
    "versionnumber": "Dataverse sets it",
    "customerid": "it is polymorphic; set parentaccountid or parentcontactid instead",
    "statecode": "it follows from statuscode; set statuscode only",
}
_LEAD_SOURCES = {
    1: "Advertisement",
    2: "Employee Referral",
    3: "External Referral",
    4: "Partner",
    5: "Public Relations",
    6: "Seminar",
    7: "Trade Show",
    8: "Web",
    9: "Word of Mouth",
    10: "Other",
}
_STATE_LABELS = {s.value: s.name.title() for s in LeadState}
# AttributeType codes of org columns a CSV cell can be converted to.
_TENANT_TYPES = (
    "String",
    "Memo",
    "Integer",
    "BigInt",
    "Decimal",
    "Double",
    "Money",
    "Boolean",
    "DateTime",
)
_INT_RANGES = {"Integer": (-(2**31), 2**31 - 1), "BigInt": (-(2**63), 2**63 - 1)}


@dataclass(frozen=True)
class RowError:
    """One problem in the CSV file: the line (1 = header), the column and what to fix."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class CsvValidationError(InvalidInputError):
    """The CSV file has invalid rows; nothing was written. ``errors`` lists them by line."""

    def __init__(self, errors: list[RowError], *, total_rows: int) -> None:
        self.errors = errors
        self.total_rows = total_rows
        lines = len({e.line for e in errors})
        shown = "\n".join(f"  {e}" for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(
            f"{lines} of {total_rows} rows are invalid; nothing was written "
            f"(fix them, or pass --skip-invalid to write the valid rows):\n{shown}{more}"
        )


@dataclass
class PushOutcome:
    """What happened to one CSV row."""

    line: int
    action: Action
    match: str | None = None
    """The match value (or key) of the row."""
    id: str | None = None
    error: str | None = None


@dataclass
class PushResult:
    """The outcome of a push: one :class:`PushOutcome` per data row, in file order."""

    rows: list[PushOutcome]
    dry_run: bool
    errors: list[RowError] = field(default_factory=list)
    aborted: bool = False
    """The ``confirm`` callback declined: nothing was written (the rows show the plan)."""

    def _count(self, *actions: str) -> int:
        return sum(1 for r in self.rows if r.action in actions)

    @property
    def created(self) -> int:
        """Rows that created a lead (or would, in a dry run)."""
        return self._count("create")

    @property
    def updated(self) -> int:
        """Rows that updated a lead (or would)."""
        return self._count("update")

    @property
    def upserted(self) -> int:
        """Rows written by alternate key (Dataverse decided create or update)."""
        return self._count("upsert")

    @property
    def failed(self) -> int:
        """Rows Dataverse refused."""
        return self._count("failed")

    @property
    def invalid(self) -> int:
        """Rows skipped because they did not validate (``skip_invalid``)."""
        return self._count("invalid")

    @property
    def ok(self) -> bool:
        """True when no row failed or was invalid."""
        return not self.failed and not self.invalid

    def write_report(self, path: str | Path) -> None:
        """Write one line per row: JSON when ``path`` ends in ``.json``, else CSV."""
        target = Path(path)
        records = [asdict(r) for r in self.rows]
        if target.suffix.lower() == ".json":
            payload = {
                "dry_run": self.dry_run,
                "created": self.created,
                "updated": self.updated,
                "upserted": self.upserted,
                "failed": self.failed,
                "invalid": self.invalid,
                "rows": records,
            }
            target.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
            return
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["line", "action", "match", "id", "error"])
            writer.writeheader()
            writer.writerows(records)


@dataclass
class _Row:
    line: int
    body: dict[str, Any]
    match: str | None
    lead_id: str | None
    status_only: bool
    new_status: int | None
    errors: list[RowError] = field(default_factory=list)
    action: Action = "create"
    reopen: bool = False
    """The row reactivates a closed lead and edits it: two PATCHes in one changeset."""
    tenant: list[str] = field(default_factory=list)
    """The org (tenant) columns this row sets."""


def read_csv(source: str | Path | io.TextIOBase) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read a CSV file: ``(header, [(line number, cells), ...])``; blank lines are skipped."""
    if isinstance(source, (str, Path)):
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InvalidInputError(f"CSV file {str(source)!r} does not exist") from None
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"CSV file {str(source)!r} is not UTF-8 ({exc.reason} at byte {exc.start}); "
                "save it as UTF-8"
            ) from None
        handle: Any = io.StringIO(text, newline="")
    else:
        handle = source
    reader = csv.reader(handle)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    try:
        start = 1
        for cells in reader:
            if header is None:
                header = [c.strip().lower() for c in cells]
            elif any(c.strip() for c in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidInputError(f"CSV line {reader.line_num}: {exc}") from None
    if not header or not any(header):
        raise InvalidInputError("the CSV file is empty: it needs a header row of lead columns")
    return header, rows


def _unmodelled(header: list[str]) -> list[str]:
    """Header names that are neither modelled lead columns nor known read-only ones."""
    return [n for n in header if n and n not in _READ_ONLY and LEAD.column(n) is None]


def _org_columns(
    client: SessionSource, session: ApiSession
) -> tuple[TableAttributes | None, str | None]:
    """The org's lead columns, or ``(None, why they could not be read)``."""
    metadata = getattr(client, "metadata", None)
    if not isinstance(metadata, StatusMetadata):
        metadata = StatusMetadata(session)
    try:
        return metadata.attributes("lead"), None
    except (NotFoundError, NotSupportedError, BadRequestError, PermissionDeniedError) as exc:
        # Older orgs, some proxies and restricted users get no EntityDefinitions: keep the
        # modelled columns only, and say so instead of guessing what the column is.
        return None, f"the org did not serve its lead column definitions (HTTP {exc.status})"
    except InvalidInputError as exc:
        return None, str(exc)


def _check_header(
    header: list[str],
    match_on: str,
    org: TableAttributes | None = None,
    org_problem: str | None = None,
) -> tuple[list[RowError], dict[str, AttributeInfo]]:
    """Header errors, and the org columns (not modelled) the file may write."""
    errors: list[RowError] = []
    tenant: dict[str, AttributeInfo] = {}
    writable = {c.name for c in LEAD.columns}
    if org is not None:
        writable |= {a.name for a in org.attributes if a.writable}
    seen: set[str] = set()
    for name in header:
        if not name:
            errors.append(RowError(1, None, "a column has no name; name it or remove it"))
            continue
        if name in seen:
            errors.append(RowError(1, name, "the column appears twice"))
        seen.add(name)
        if name in _READ_ONLY:
            errors.append(RowError(1, name, f"cannot be written: {_READ_ONLY[name]}"))
            continue
        if LEAD.column(name) is not None:
            continue
        attr = org.get(name) if org is not None else None
        if attr is None:
            hint = difflib.get_close_matches(name, sorted(writable), n=1)
            tip = f"; did you mean {hint[0]!r}?" if hint else ""
            if org is None:
                why = org_problem or "the org's column definitions were not read"
                message = (
                    f"unknown lead column: it could not be checked against the org ({why}), "
                    f"so only the modelled lead columns can be written{tip}"
                )
            else:
                message = f"unknown lead column{tip}" + (
                    "" if hint else "; the org's lead table has no such column either"
                )
            errors.append(RowError(1, name, message))
        elif not attr.writable:
            errors.append(
                RowError(
                    1,
                    name,
                    "cannot be written: the org marks it valid for neither create nor update",
                )
            )
        elif attr.type not in _TENANT_TYPES:
            errors.append(
                RowError(
                    1,
                    name,
                    f"is a {attr.type} column of the org; a CSV push writes org columns of type "
                    f"{', '.join(_TENANT_TYPES)} (set it another way)",
                )
            )
        else:
            tenant[name] = attr
    if match_on not in header and "leadid" not in header:
        errors.append(RowError(1, match_on, f"the match column {match_on!r} is not in the header"))
    return errors, tenant


def _parse_status(text: str) -> int | None:
    stripped = text.strip()
    if stripped.isdigit():
        value = int(stripped)
        return value if value in LEAD.statuses else None
    for value, (_state, label) in LEAD.statuses.items():
        if label.lower() == stripped.lower():
            return value
    return None


def _parse_int(value: str, low: int | None = None, high: int | None = None) -> int:
    if not _INTEGER.match(value):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if low is not None and high is not None and not low <= number <= high:
        raise ValueError(f"{value} is out of range ({low} to {high})")
    return number


def _parse_number(value: str) -> float:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number (use '.' for decimals)") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return float(number)


def _parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true/false (or yes/no, 1/0)")


def _parse_datetime(value: str) -> str:
    """A date (``YYYY-MM-DD``, sent as is) or a date and time with a zone (sent in UTC)."""
    if len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                raise ValueError(
                    f"{value!r} has no time zone; add Z (UTC) or an offset such as +02:00"
                )
            return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    raise ValueError(
        f"{value!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM:SSZ)"
    )


def _parse_org_cell(attr: AttributeInfo, text: str) -> Any:
    """The value of one cell of an org (tenant) column, by its ``AttributeType``."""
    value = text.strip()
    kind = attr.type
    if kind in ("String", "Memo"):
        return value
    if kind in _INT_RANGES:
        return _parse_int(value, *_INT_RANGES[kind])
    if kind in ("Decimal", "Double", "Money"):
        return _parse_number(value)
    if kind == "Boolean":
        return _parse_bool(value)
    if kind == "DateTime":
        return _parse_datetime(value)
    raise ValueError(f"cannot be written from a CSV file (a {kind} column)")


def _parse_cell(name: str, text: str) -> tuple[str, Any]:
    """``(property, value)`` for one cell; raises ``ValueError`` with what is wrong."""
    col = LEAD.column(name)
    assert col is not None
    kind = col.kind
    value = text.strip()
    if name in _LOOKUP_SETS:
        try:
            guid = normalize_guid(value, what=name)
        except InvalidIdError:
            raise ValueError(f"{value!r} is not a GUID (expected 00000000-0000-...)") from None
        return f"{name}@odata.bind", odata_bind(_LOOKUP_SETS[name], guid)
    if kind in ("string", "memo"):
        limit = _MAX_LENGTH.get(name)
        if limit is not None and len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; at most {limit} are allowed")
        if name == "emailaddress1" and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return name, value
    if kind in ("int", "bigint"):
        return name, _parse_int(value)
    if kind in ("money", "decimal", "float"):
        return name, _parse_number(value)
    if kind == "bool":
        return name, _parse_bool(value)
    if kind == "date":
        try:
            return name, date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if kind == "choice":
        if value.isdigit() and int(value) in _LEAD_SOURCES:
            return name, int(value)
        for code, label in _LEAD_SOURCES.items():
            if label.lower() == value.lower():
                return name, code
        raise ValueError(
            f"{value!r} is not a lead source; use one of {', '.join(_LEAD_SOURCES.values())}"
        )
    raise ValueError("cannot be written from a CSV file")


def _validate(
    header: list[str],
    rows: list[tuple[int, list[str]]],
    match_on: str,
    tenant: Mapping[str, AttributeInfo] | None = None,
) -> list[_Row]:
    org = tenant or {}
    out: list[_Row] = []
    first_seen: dict[str, int] = {}
    for line, cells in rows:
        errors: list[RowError] = []
        if len(cells) > len(header):
            errors.append(
                RowError(line, None, f"has {len(cells)} cells but the header has {len(header)}")
            )
        body: dict[str, Any] = {}
        lead_id: str | None = None
        status: int | None = None
        match_value: str | None = None
        tenant_set: list[str] = []
        for name, text in zip(header, cells, strict=False):
            attr = org.get(name)
            if attr is not None and text.strip():
                try:
                    body[name] = _parse_org_cell(attr, text)
                except ValueError as exc:
                    errors.append(RowError(line, name, str(exc)))
                else:
                    tenant_set.append(name)
                continue
            if not text.strip() or name in _READ_ONLY or LEAD.column(name) is None:
                if name == match_on and not text.strip():
                    match_value = None
                continue
            if name == "leadid":
                try:
                    lead_id = normalize_guid(text, what="leadid")
                except InvalidIdError:
                    errors.append(RowError(line, name, f"{text.strip()!r} is not a GUID"))
                continue
            if name == "statuscode":
                status = _parse_status(text)
                if status is None:
                    known = ", ".join(f"{v} {lbl}" for v, (_, lbl) in LEAD.statuses.items())
                    errors.append(
                        RowError(
                            line, name, f"{text.strip()!r} is not a lead status reason ({known})"
                        )
                    )
                continue
            try:
                prop, value = _parse_cell(name, text)
            except ValueError as exc:
                errors.append(RowError(line, name, str(exc)))
                continue
            body[prop] = value
            if name == match_on:
                match_value = str(value)
        if status is not None:
            body["statecode"] = LEAD.statuses[status][0]
            body["statuscode"] = status
        key = lead_id or (match_value.lower() if match_value else None)
        if lead_id is None and match_value is None and not errors:
            errors.append(
                RowError(
                    line, match_on, f"no {match_on} to match the row to a lead (and no leadid)"
                )
            )
        if key is not None:
            if key in first_seen:
                errors.append(
                    RowError(
                        line,
                        "leadid" if lead_id else match_on,
                        f"the same lead as line {first_seen[key]}; merge the two rows",
                    )
                )
            else:
                first_seen[key] = line
        status_only = set(body) <= {"statecode", "statuscode"}
        out.append(
            _Row(
                line,
                body,
                match_value if lead_id is None else lead_id,
                lead_id,
                status_only,
                status,
                errors,
                tenant=tenant_set,
            )
        )
    return out


def _leads_where(
    session: ApiSession, column: str, values: Iterable[Any], select: str
) -> Iterator[dict[str, Any]]:
    """The leads whose ``column`` equals one of ``values`` (25 values per request)."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), 25):
        flt = " or ".join(f"{column} eq {literal(v)}" for v in unique[start : start + 25])
        for page in session.iter_pages("leads", params={"$select": select, "$filter": flt}):
            yield from page.rows


def _lookup(
    session: ApiSession, match_on: str, values: list[str]
) -> dict[str, list[tuple[str, int]]]:
    """``{lower-case value: [(leadid, statecode), ...]}`` for the leads matching ``values``."""
    found: dict[str, list[tuple[str, int]]] = {}
    for row in _leads_where(session, match_on, values, f"leadid,statecode,{match_on}"):
        value = row.get(match_on)
        if value is None:
            continue
        found.setdefault(str(value).lower(), []).append(
            (str(row["leadid"]).lower(), int(row.get("statecode") or 0))
        )
    return found


def _states_by_id(session: ApiSession, ids: list[str]) -> dict[str, int]:
    rows = _leads_where(session, "leadid", [UUID(i) for i in ids], "leadid,statecode")
    return {str(row["leadid"]).lower(): int(row.get("statecode") or 0) for row in rows}


def _check_org_columns(row: _Row, tenant: Mapping[str, AttributeInfo]) -> None:
    """Flag org columns the org does not let this row's create or update set."""
    creating = row.action == "create" or (row.action == "upsert" and row.lead_id is None)
    for name in row.tenant:
        attr = tenant[name]
        if creating and not attr.valid_for_create:
            row.errors.append(
                RowError(
                    row.line,
                    name,
                    "the org does not allow setting it when a lead is created; leave it empty "
                    "for new leads and set it in a second push",
                )
            )
        elif not creating and not attr.valid_for_update:
            row.errors.append(
                RowError(
                    row.line,
                    name,
                    "the org does not allow changing it on an existing lead; leave it empty "
                    "for rows that update",
                )
            )


def _plan(
    session: ApiSession,
    rows: list[_Row],
    match_on: str,
    alternate_key: bool,
    tenant: Mapping[str, AttributeInfo] | None = None,
) -> None:
    """Decide create/update per valid row and flag what cannot be written."""
    valid = [r for r in rows if not r.errors]
    by_id = _states_by_id(session, [r.lead_id for r in valid if r.lead_id])
    matches = _lookup(
        session, match_on, [r.match for r in valid if r.lead_id is None and r.match is not None]
    )
    for row in valid:
        if row.lead_id is not None:
            state = by_id.get(row.lead_id)
            row.action = "update" if state is not None else "create"
            if row.action == "create":
                row.body["leadid"] = row.lead_id
        else:
            hits = matches.get((row.match or "").lower(), [])
            if len(hits) > 1:
                ids = ", ".join(h[0] for h in hits[:5])
                row.errors.append(
                    RowError(
                        row.line,
                        match_on,
                        f"{row.match!r} matches {len(hits)} leads ({ids}); "
                        "add a leadid column to say which one",
                    )
                )
                continue
            state = hits[0][1] if hits else None
            row.lead_id = hits[0][0] if hits else None
            if alternate_key:
                row.action = "upsert"
            else:
                row.action = "update" if hits else "create"
        if row.tenant and tenant:
            _check_org_columns(row, tenant)
        if state is None and row.new_status is not None and LEAD.statuses[row.new_status][0]:
            label = LEAD.statuses[row.new_status][1]
            row.errors.append(
                RowError(
                    row.line,
                    "statuscode",
                    f"a new lead starts Open (New or Contacted); {label!r} belongs to "
                    f"{_STATE_LABELS[LEAD.statuses[row.new_status][0]]}",
                )
            )
        elif state is not None and state != 0 and not row.status_only:
            reopening = row.new_status is not None and LEAD.statuses[row.new_status][0] == 0
            # Dataverse refuses edits of an inactive lead: reactivate first, then edit, as one
            # atomic changeset so the row never ends half-applied.
            row.reopen = reopening
            if not reopening:
                row.errors.append(
                    RowError(
                        row.line,
                        None,
                        f"lead {row.lead_id} is {_STATE_LABELS.get(state, state)}: closed leads "
                        "cannot be edited; reactivate it (statuscode New or Contacted) first",
                    )
                )


def _operation_error(result: OperationResult) -> str:
    err = result.error
    if err is not None:
        return str(err)
    if not result.executed:
        return "not executed: the batch stopped before this operation"
    return f"HTTP {result.status}"


def push_csv(
    client: SessionSource,
    source: str | Path | io.TextIOBase,
    *,
    match_on: str = "emailaddress1",
    alternate_key: bool = False,
    dry_run: bool = False,
    skip_invalid: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
    confirm: Callable[[PushResult], bool] | None = None,
) -> PushResult:
    """Create or update leads from a CSV file (header = lead column logical names).

    ``client`` is a :class:`~d365leads.client.DataverseClient` (or its ``session``);
    ``source`` the CSV file (a path or an open text stream).
    Header names that are not modelled lead columns are looked up in the org's column
    definitions (one request, only then; cached on a client's ``metadata``, so call
    ``client.metadata.clear()`` after adding columns to the org) and written by their type.

    Raises :class:`CsvValidationError` (nothing written) when any row is invalid, unless
    ``skip_invalid``; then invalid rows are reported with action ``invalid``. ``dry_run``
    validates and matches (reads only) and reports what would be written.
    Batches go out on up to ``max_workers`` threads (capped by the org's ``x-ms-dop-hint``).
    ``progress(done, total)`` is called after each batch. ``confirm(plan)`` sees the plan
    (a dry-run result) before the first write; returning False writes nothing.
    """
    session = session_of(client)
    name = match_on.strip().lower()
    if LEAD.column(name) is None or name in _READ_ONLY:
        raise InvalidInputError(f"cannot match on {match_on!r}: it is not a writable lead column")
    if max_workers < 1:
        raise InvalidInputError(f"max_workers must be at least 1, got {max_workers}")
    if not 1 <= batch_size <= 1000:
        raise InvalidInputError(f"batch size must be 1 to 1000, got {batch_size}")
    header, raw_rows = read_csv(source)
    org, org_problem = (None, None)
    if _unmodelled(header):
        org, org_problem = _org_columns(client, session)
    header_errors, tenant = _check_header(header, name, org, org_problem)
    rows = _validate(header, raw_rows, name, tenant)
    if header_errors:
        raise CsvValidationError(header_errors, total_rows=len(rows))
    if alternate_key and name not in header:
        raise InvalidInputError(f"--alternate-key needs the key column {name!r} in the file")
    _plan(session, [r for r in rows if not r.errors], name, alternate_key, tenant)
    errors = [e for r in rows for e in r.errors]
    if errors and not skip_invalid:
        raise CsvValidationError(errors, total_rows=len(rows))
    outcomes: dict[int, PushOutcome] = {}
    todo: list[_Row] = []
    for row in rows:
        if row.errors:
            outcomes[row.line] = PushOutcome(
                row.line, "invalid", row.match, row.lead_id, "; ".join(str(e) for e in row.errors)
            )
        else:
            outcomes[row.line] = PushOutcome(row.line, row.action, row.match, row.lead_id)
            todo.append(row)
    if dry_run:
        return PushResult([outcomes[r.line] for r in rows], dry_run=True, errors=errors)
    if confirm is not None:
        plan = PushResult([outcomes[r.line] for r in rows], dry_run=True, errors=errors)
        if not confirm(plan):
            plan.aborted = True
            return plan
    chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    # As many writers as Dataverse recommends (x-ms-dop-hint, seen on the lookups), capped;
    # they share the session's throttle state, so a 429 pauses all of them.
    hint = session.throttle.snapshot().dop_hint or 1
    count = max(1, min(max_workers, hint, len(chunks)))
    lock = threading.Lock()
    done = 0

    def write(chunk: list[_Row]) -> None:
        nonlocal done
        answers = _write_batch(session, chunk, name)
        with lock:
            outcomes.update(answers)
            done += len(chunk)
            if progress is not None:
                progress(done, len(todo))

    if count == 1:
        for chunk in chunks:
            write(chunk)
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="d365leads-push") as pool:
            for future in [pool.submit(write, chunk) for chunk in chunks]:
                future.result()
    return PushResult([outcomes[r.line] for r in rows], dry_run=False, errors=errors)


def _write_batch(session: ApiSession, chunk: list[_Row], match_on: str) -> dict[int, PushOutcome]:
    batch = BatchRequest(session, continue_on_error=True)
    sizes: list[int] = []
    for row in chunk:
        if row.reopen:
            assert row.lead_id is not None
            path = entity_path("leads", row.lead_id)
            state = {k: row.body[k] for k in ("statecode", "statuscode")}
            rest = {k: v for k, v in row.body.items() if k not in state}
            with batch.changeset() as changes:
                changes.patch(path, state, if_match="*")
                changes.patch(path, rest, if_match="*")
            sizes.append(2)
            continue
        sizes.append(1)
        if row.action == "create":
            batch.post("leads", row.body)
        elif row.action == "update":
            assert row.lead_id is not None
            batch.patch(entity_path("leads", row.lead_id), row.body, if_match="*")
        else:
            key = {match_on: row.body[match_on]}
            body = {k: v for k, v in row.body.items() if k != match_on}
            batch.patch(entity_path("leads", key), body, if_match=None)
    outcomes: dict[int, PushOutcome] = {}
    try:
        results: Iterable[OperationResult] = batch.execute()
    except DataverseError as exc:
        for row in chunk:
            outcomes[row.line] = PushOutcome(
                row.line, "failed", row.match, row.lead_id, f"the batch failed: {exc}"
            )
        return outcomes
    answers = list(results)
    at = 0
    for row, size in zip(chunk, sizes, strict=True):
        mine = answers[at : at + size]
        at += size
        failed = [res for res in mine if not res.ok]
        if mine and not failed:
            rid = mine[0].entity_id or row.lead_id
            outcomes[row.line] = PushOutcome(row.line, row.action, row.match, rid)
        else:
            error = _operation_error(failed[0]) if failed else "no answer for this operation"
            outcomes[row.line] = PushOutcome(row.line, "failed", row.match, row.lead_id, error)
    return outcomes
