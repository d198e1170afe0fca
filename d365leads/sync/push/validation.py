"""Reading a CSV file and validating it as a whole: the header, then every row, by line."""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from d365leads.errors import (
    BadRequestError,
    InvalidIdError,
    InvalidInputError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
)
from d365leads.http.pipeline import ApiSession
from d365leads.metadata import AttributeInfo, StatusMetadata, TableAttributes
from d365leads.odata.literals import normalize_guid
from d365leads.sync._session import SessionSource
from d365leads.sync.push.cells import (
    READ_ONLY,
    TENANT_TYPES,
    parse_cell,
    parse_org_cell,
    parse_status,
)
from d365leads.sync.push.results import Action, RowError
from d365leads.sync.tables import LEAD

__all__ = [
    "CsvRow",
    "check_header",
    "org_columns",
    "read_csv",
    "unmodelled_columns",
    "validate_rows",
]


@dataclass
class CsvRow:
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
            raw = Path(source).read_bytes()
        except FileNotFoundError:
            raise InvalidInputError(f"CSV file {str(source)!r} does not exist") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            # Name the line: a file pasted together from UTF-8 and Windows-1252 parts is common.
            line = raw.count(b"\n", 0, exc.start) + 1
            raise InvalidInputError(
                f"CSV file {str(source)!r} line {line} is not UTF-8 ({exc.reason} at byte "
                f"{exc.start}); save the whole file as UTF-8"
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
    if len(header) == 1 and ";" in header[0]:
        raise InvalidInputError(
            f"CSV line 1: the header {header[0]!r} is separated by semicolons; "
            "save the file comma-separated"
        )
    return header, rows


def unmodelled_columns(header: list[str]) -> list[str]:
    """Header names that are neither modelled lead columns nor known read-only ones."""
    return [n for n in header if n and n not in READ_ONLY and LEAD.column(n) is None]


def org_columns(
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


def check_header(
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
        if name in READ_ONLY:
            errors.append(RowError(1, name, f"cannot be written: {READ_ONLY[name]}"))
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
        elif attr.type not in TENANT_TYPES:
            errors.append(
                RowError(
                    1,
                    name,
                    f"is a {attr.type} column of the org; a CSV push writes org columns of type "
                    f"{', '.join(TENANT_TYPES)} (set it another way)",
                )
            )
        else:
            tenant[name] = attr
    if match_on not in header and "leadid" not in header:
        errors.append(RowError(1, match_on, f"the match column {match_on!r} is not in the header"))
    return errors, tenant


def validate_rows(
    header: list[str],
    rows: list[tuple[int, list[str]]],
    match_on: str,
    tenant: Mapping[str, AttributeInfo] | None = None,
) -> list[CsvRow]:
    org = tenant or {}
    out: list[CsvRow] = []
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
                    body[name] = parse_org_cell(attr, text)
                except ValueError as exc:
                    errors.append(RowError(line, name, str(exc)))
                else:
                    tenant_set.append(name)
                continue
            if not text.strip() or name in READ_ONLY or LEAD.column(name) is None:
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
                status = parse_status(text)
                if status is None:
                    known = ", ".join(f"{v} {lbl}" for v, (_, lbl) in LEAD.statuses.items())
                    errors.append(
                        RowError(
                            line, name, f"{text.strip()!r} is not a lead status reason ({known})"
                        )
                    )
                continue
            try:
                prop, value = parse_cell(name, text)
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
            CsvRow(
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
