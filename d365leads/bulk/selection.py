"""Which leads a bulk job touches: an OData filter, filter shortcuts, or a file of ids.

The selection is resolved once, when the job is planned, into a list of lead ids and their
current state; that list is frozen into the job journal so a resumed job never re-selects.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d365leads.batch import BatchRequest
from d365leads.errors import BadRequestError, BatchError, BulkJobError, InvalidInputError
from d365leads.fetchxml import check_fetchxml, fetch_entity, iter_fetch_pages
from d365leads.odata.literals import normalize_guid

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = [
    "LEAD_COLUMNS",
    "LeadSnapshot",
    "Selection",
    "build_filter",
    "chunked",
    "fetch_leads",
    "find_originated_opportunities",
    "parse_age",
    "read_ids_file",
    "select_leads",
]

LEAD_COLUMNS = (
    "leadid",
    "fullname",
    "subject",
    "statecode",
    "statuscode",
    "companyname",
    "firstname",
    "lastname",
    "_parentaccountid_value",
    "_parentcontactid_value",
    "modifiedon",
)

# Ids per read: keeps the $filter (and the URL) well under Dataverse's limits.
_IDS_PER_QUERY = 50
_GETS_PER_BATCH = 20
_AGE = re.compile(r"^\s*(\d+)\s*([dwhy])\s*$", re.IGNORECASE)
_AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True)
class LeadSnapshot:
    """What the planner needs to know about one lead, read at plan (or verify) time."""

    lead_id: str
    name: str
    statecode: int
    statuscode: int
    companyname: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    parent_account_id: str | None = None
    parent_contact_id: str | None = None
    values: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The extra columns read for a field job (see :mod:`d365leads.bulk.unchanged`)."""

    @classmethod
    def from_row(cls, row: dict[str, Any], extra: Sequence[str] = ()) -> LeadSnapshot:
        """Build a snapshot from a Web API lead row (keeping the ``extra`` columns' values)."""
        name = row.get("fullname") or " ".join(
            str(p) for p in (row.get("firstname"), row.get("lastname")) if p
        )
        return cls(
            lead_id=str(row["leadid"]).lower(),
            name=str(name or row.get("subject") or ""),
            statecode=int(row["statecode"]),
            statuscode=int(row["statuscode"]),
            companyname=row.get("companyname") or None,
            firstname=row.get("firstname") or None,
            lastname=row.get("lastname") or None,
            parent_account_id=row.get("_parentaccountid_value") or None,
            parent_contact_id=row.get("_parentcontactid_value") or None,
            values={c: row.get(c) for c in extra if c in row},
        )


@dataclass(frozen=True)
class Selection:
    """A job's selection: exactly one of ``filter`` (OData ``$filter`` text), ``ids`` or
    ``fetchxml`` (a FetchXML query of leads; with ``query``, ``("savedQuery"|"userQuery",
    view id)``, the view that runs it).

    A query is stored as it is and run when the job is planned, so the job is journalled
    before its leads are read; the ids it returned are then frozen into the journal.
    """

    filter: str | None = None
    ids: tuple[str, ...] | None = None
    description: str = ""
    fetchxml: str | None = None
    query: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.filter, self.ids, self.fetchxml) if v is not None]
        if len(given) != 1:
            raise InvalidInputError(
                "a selection needs exactly one of a filter, a list of ids or a FetchXML query"
            )
        if self.ids is not None and not self.ids:
            raise InvalidInputError("the id list is empty; nothing to select")
        if self.query is not None and self.query[0] not in ("savedQuery", "userQuery"):
            raise InvalidInputError(f"a view runs as savedQuery or userQuery, not {self.query[0]}")

    def describe(self) -> str:
        """One line for confirmations and reports."""
        if self.description:
            return self.description
        if self.filter is not None:
            return f"leads where {self.filter}"
        return f"{len(self.ids or ())} lead ids"

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form (stored in the journal)."""
        data: dict[str, Any] = {
            "filter": self.filter,
            "ids": list(self.ids) if self.ids is not None else None,
            "description": self.description,
        }
        if self.fetchxml is not None:
            data["fetchxml"] = self.fetchxml
        if self.query is not None:
            data["query"] = list(self.query)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Selection:
        """Inverse of :meth:`to_json`."""
        ids = data.get("ids")
        query = data.get("query")
        return cls(
            filter=data.get("filter"),
            ids=tuple(ids) if ids is not None else None,
            description=str(data.get("description") or ""),
            fetchxml=data.get("fetchxml"),
            query=(str(query[0]), str(query[1])) if query else None,
        )


def parse_age(text: str) -> timedelta:
    """Parse an age such as ``365d``, ``12w``, ``48h`` or ``2y`` (a year is 365 days)."""
    match = _AGE.match(text)
    if not match:
        raise InvalidInputError(
            f"cannot read the age {text!r}; use a number and a unit: 48h, 30d, 12w or 1y"
        )
    count, unit = int(match.group(1)), match.group(2).lower()
    if unit == "y":
        return timedelta(days=365 * count)
    return _AGE_UNITS[unit] * count


def build_filter(
    *,
    filter: str | None = None,
    statecode: int | None = None,
    statuscode: int | None = None,
    older_than: timedelta | None = None,
    now: datetime | None = None,
) -> str | None:
    """Combine a raw ``$filter`` with the shortcut conditions (all joined with ``and``).

    ``older_than`` selects leads whose ``modifiedon`` is before ``now - older_than``.
    Returns None when nothing was given.
    """
    parts: list[str] = []
    if filter is not None:
        if not filter.strip():
            raise InvalidInputError("the filter is empty; give an OData condition or leave it out")
        parts.append(f"({filter.strip()})")
    if statecode is not None:
        parts.append(f"statecode eq {int(statecode)}")
    if statuscode is not None:
        parts.append(f"statuscode eq {int(statuscode)}")
    if older_than is not None:
        moment = (now or datetime.now(timezone.utc)) - older_than
        stamp = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(f"modifiedon lt {stamp}")
    return " and ".join(parts) if parts else None


def _normalise_id(text: str, where: str) -> str:
    return normalize_guid(text.strip(), what=f"{where}:")


def read_ids_file(path: str | Path, *, id_column: str | None = None) -> list[str]:
    """Read lead ids from a file: one GUID a line, or a CSV column (``id_column``).

    Without ``id_column``, a CSV whose header has a ``leadid`` or ``id`` column uses it.
    Blank lines are ignored; duplicates are removed (first occurrence kept); anything that is not
    a GUID is an error naming the line.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError(f"cannot read the ids file {file}: {exc.strerror}") from None
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    is_csv = (
        id_column is not None
        or any(sep in first for sep in (",", ";", "\t"))
        or first.strip().lower() in ("leadid", "id")  # a one-column CSV with a header
    )
    values: list[tuple[int, str]] = []
    if is_csv:
        dialect: Any = csv.excel
        try:
            dialect = csv.Sniffer().sniff(first, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text), dialect)
        header = next(reader, None)
        if header is None:
            raise InvalidInputError(f"the ids file {file} is empty")
        names = [h.strip() for h in header]
        lowered = [n.lower() for n in names]
        wanted = id_column.lower() if id_column else None
        if wanted is None:
            wanted = next((c for c in ("leadid", "id") if c in lowered), None)
            if wanted is None:
                raise InvalidInputError(
                    f"{file} looks like CSV but has no 'leadid' or 'id' column; "
                    f"name the column with --id-column (columns: {', '.join(names)})"
                )
        if wanted not in lowered:
            raise InvalidInputError(
                f"{file} has no column {id_column!r}; columns: {', '.join(names)}"
            )
        col = lowered.index(wanted)
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if col >= len(row) or not row[col].strip():
                raise InvalidInputError(f"{file}, line {number}: the id column is empty")
            values.append((number, row[col]))
    else:
        values = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    seen: dict[str, None] = {}
    for number, raw in values:
        seen.setdefault(_normalise_id(raw, f"{file}, line {number}"), None)
    if not seen:
        raise InvalidInputError(f"the ids file {file} holds no ids")
    return list(seen)


def chunked(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """Split ``items`` into lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _id_filter(column: str, ids: Iterable[str]) -> str:
    return " or ".join(f"{column} eq {i}" for i in ids)


def _select(extra: Sequence[str]) -> str:
    return ",".join(dict.fromkeys((*LEAD_COLUMNS, *extra)))


def fetch_leads(
    session: ApiSession, ids: Sequence[str], columns: Sequence[str] = ()
) -> dict[str, LeadSnapshot]:
    """Read the current state of the given leads; ids that do not exist are absent.

    Up to 50 ids go in one ``GET`` (a short URL); more are read with ``$batch`` requests of
    up to 20 such ``GET`` s each, so planning 10,000 ids costs 10 requests instead of 200.
    ``columns`` are read too and kept in :attr:`LeadSnapshot.values`.
    """
    found: dict[str, LeadSnapshot] = {}
    chunks = list(chunked(list(ids), _IDS_PER_QUERY))
    select = _select(columns)
    if len(chunks) == 1:
        params = {"$select": select, "$filter": _id_filter("leadid", chunks[0])}
        for page in session.iter_pages("leads", params=params):
            for row in page.rows:
                snap = LeadSnapshot.from_row(row, columns)
                found[snap.lead_id] = snap
        return found
    for group in range(0, len(chunks), _GETS_PER_BATCH):
        batch = BatchRequest(session, continue_on_error=True)
        for chunk in chunks[group : group + _GETS_PER_BATCH]:
            batch.get("leads", params={"$select": select, "$filter": _id_filter("leadid", chunk)})
        for result in batch.execute(idempotent=True):
            if not result.ok:
                raise result.error or BatchError("a read inside the $batch was not executed")
            body = result.json() or {}
            for row in body.get("value", []):
                snap = LeadSnapshot.from_row(row, columns)
                found[snap.lead_id] = snap
    return found


def find_originated_opportunities(session: ApiSession, lead_ids: Sequence[str]) -> set[str]:
    """Return the ids (among ``lead_ids``) of leads that an opportunity originates from."""
    found: set[str] = set()
    for chunk in chunked(list(lead_ids), _IDS_PER_QUERY):
        params = {
            "$select": "opportunityid,_originatingleadid_value",
            "$filter": _id_filter("_originatingleadid_value", chunk),
        }
        for page in session.iter_pages("opportunities", params=params):
            for row in page.rows:
                value = row.get("_originatingleadid_value")
                if value:
                    found.add(str(value).lower())
    return found


def select_leads(
    session: ApiSession, selection: Selection, columns: Sequence[str] = ()
) -> tuple[list[LeadSnapshot], list[str]]:
    """Resolve a selection: return the leads found and the selected ids that do not exist
    (reading ``columns`` too, see :func:`fetch_leads`)."""
    ids = selection.ids
    if selection.fetchxml is not None:
        ids = _query_ids(session, selection)
    if ids is not None:
        found = fetch_leads(session, ids, columns)
        ordered = [found[i] for i in ids if i in found]
        missing = [i for i in ids if i not in found]
        return ordered, missing
    params = {
        "$select": _select(columns),
        "$filter": selection.filter or "",
        "$orderby": "leadid",
    }
    leads: list[LeadSnapshot] = []
    try:
        for page in session.iter_pages("leads", params=params, page_size=5000):
            leads.extend(LeadSnapshot.from_row(row, columns) for row in page.rows)
    except BadRequestError as exc:
        raise BulkJobError(
            f"Dataverse refused the filter {selection.filter!r}: {exc.message}"
        ) from exc
    return leads, []


def _query_ids(session: ApiSession, selection: Selection) -> tuple[str, ...]:
    """The lead ids a FetchXML selection (or the view that runs it) returns now, in order."""
    root = check_fetchxml(selection.fetchxml or "")
    if fetch_entity(root) != "lead":
        raise InvalidInputError(
            f"the FetchXML queries {fetch_entity(root)!r}; a bulk job selects leads"
        )
    first = dict([selection.query]) if selection.query is not None else None
    ids: dict[str, None] = {}
    for page in iter_fetch_pages(session, "leads", root, annotations=False, first=first):
        for row in page.rows:
            if row.get("leadid"):
                ids.setdefault(str(row["leadid"]).lower(), None)
    if not ids:
        raise InvalidInputError(f"{selection.describe()} returns no leads; nothing to do")
    return tuple(ids)
