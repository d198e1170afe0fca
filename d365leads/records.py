"""Dict-level record operations on any entity set (create, get, update, upsert, delete, query).

Record ids are validated as GUIDs before anything is sent. Updates send ``If-Match`` (the
record's ETag, or ``*`` so an update can never create a record); upserts address a record by id
or by alternate key (``accounts(accountnumber='ABC')``).
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from d365leads import _wire
from d365leads.errors import DataverseError, InvalidInputError
from d365leads.fetchxml import check_fetchxml, fetch_entity, iter_fetch_pages
from d365leads.http.pipeline import ApiSession
from d365leads.http.transport import Response
from d365leads.models.base import ENTITY_SETS
from d365leads.multiple import ManyResult, MultipleAPI
from d365leads.odata.literals import literal, normalize_guid
from d365leads.odata.paths import (
    RecordKey,
    check_entity_set,
    entity_path,
    id_from_entity_url,
    is_key_form_entity_url,
    odata_bind,
)
from d365leads.odata.query import Query

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RecordKey",
    "RecordsAPI",
    "WhoAmI",
    "entity_path",
    "id_from_entity_url",
    "odata_bind",
]


@dataclass(frozen=True)
class WhoAmI:
    """The caller's identity, from the ``WhoAmI`` function."""

    user_id: str
    business_unit_id: str
    organization_id: str


def _select_params(select: Any = None, expand: Any = None) -> dict[str, str]:
    query = Query()
    if select:
        query = query.select(*([select] if isinstance(select, str) else select))
    if expand:
        for item in [expand] if isinstance(expand, str) else expand:
            query = query.expand(item)
    return query.to_params()


class RecordsAPI:
    """CRUD on any entity set with plain dicts; the typed resources build on it."""

    def __init__(self, session: ApiSession) -> None:
        self.session = session
        self._entity_sets: dict[str, str] = dict(ENTITY_SETS)
        self.multiple = MultipleAPI(session)
        """The bulk operation messages (``create_many``…; support probed once per table)."""

    @overload
    def create(
        self,
        entity_set: str,
        data: Mapping[str, Any],
        *,
        return_representation: Literal[False] = ...,
        select: Any = None,
    ) -> str: ...

    @overload
    def create(
        self,
        entity_set: str,
        data: Mapping[str, Any],
        *,
        return_representation: Literal[True],
        select: Any = None,
    ) -> dict[str, Any]: ...

    def create(
        self,
        entity_set: str,
        data: Mapping[str, Any],
        *,
        return_representation: bool = False,
        select: Any = None,
    ) -> str | dict[str, Any]:
        """Create a record; return its id, or the created row with ``return_representation``."""
        check_entity_set(entity_set)
        _check_data(data)
        prefer = [_wire.PREFER_RETURN_REPRESENTATION] if return_representation else []
        params = _select_params(select) if return_representation else {}
        response = self.session.request(
            "POST", entity_set, params=params, json=dict(data), prefer=prefer
        )
        if return_representation:
            body = response.json()
            if not isinstance(body, dict):
                raise DataverseError(f"POST {entity_set}: expected the created row in the response")
            return body
        return _entity_id(response, f"POST {entity_set}")

    def get(
        self,
        entity_set: str,
        record_id: RecordKey,
        *,
        select: Any = None,
        expand: Any = None,
        annotations: bool = False,
    ) -> dict[str, Any]:
        """Read one record by id or alternate key (``{"accountnumber": "A-1"}``);
        ``annotations=True`` adds formatted values and lookup names."""
        path = entity_path(entity_set, record_id)
        prefer = [_wire.PREFER_INCLUDE_ALL_ANNOTATIONS] if annotations else []
        return self.session.get_json(path, params=_select_params(select, expand), prefer=prefer)

    def update(
        self,
        entity_set: str,
        record_id: str | uuid.UUID,
        data: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> None:
        """Update columns of an existing record.

        Sends ``If-Match: <etag>`` (fails with ``PreconditionFailedError`` if the record changed)
        or ``If-Match: *`` (fails with ``NotFoundError`` rather than creating a record).
        """
        path = entity_path(entity_set, record_id)
        _check_data(data)
        self.session.request("PATCH", path, json=dict(data), headers={"If-Match": etag or "*"})

    def upsert(
        self,
        entity_set: str,
        key: RecordKey,
        data: Mapping[str, Any],
        *,
        create_only: bool = False,
        update_only: bool = False,
    ) -> str | None:
        """Create or update the record at ``key`` (a GUID or an alternate-key dict).

        ``create_only`` sends ``If-None-Match: *`` (``DuplicateRecordError`` if it exists);
        ``update_only`` sends ``If-Match: *`` (``NotFoundError`` if missing). Returns the
        record id when Dataverse reports it (or the key is a GUID), else ``None``.
        """
        if create_only and update_only:
            raise InvalidInputError("upsert: create_only and update_only cannot both be set")
        path = entity_path(entity_set, key)
        _check_data(data)
        headers: dict[str, str] = {}
        if create_only:
            headers["If-None-Match"] = "*"
        if update_only:
            headers["If-Match"] = "*"
        response = self.session.request("PATCH", path, json=dict(data), headers=headers)
        location = response.headers.get(_wire.HEADER_ENTITY_ID)
        if location and not (isinstance(key, Mapping) and is_key_form_entity_url(location)):
            return id_from_entity_url(location)
        if not isinstance(key, Mapping):
            return normalize_guid(key)
        return None  # answered in the key form: no GUID to report

    def delete(
        self, entity_set: str, record_id: str | uuid.UUID, *, etag: str | None = None
    ) -> None:
        """Delete a record; with ``etag`` only if it has not changed since it was read."""
        path = entity_path(entity_set, record_id)
        headers = {"If-Match": etag} if etag else None
        self.session.request("DELETE", path, headers=headers)

    def query(
        self,
        entity_set: str,
        query: Query | None = None,
        *,
        page_size: int | None = None,
        annotations: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Yield every row matching ``query``, fetching one page at a time."""
        check_entity_set(entity_set)
        if query is not None and query.entity_set and query.entity_set != entity_set:
            raise InvalidInputError(
                f"the query is for {query.entity_set!r} but was run on {entity_set!r}"
            )
        prefer = [_wire.PREFER_INCLUDE_ALL_ANNOTATIONS] if annotations else []
        params = query.to_params() if query is not None else {}
        for page in self.session.iter_pages(
            entity_set, params=params, page_size=page_size, prefer=prefer
        ):
            yield from page.rows

    def fetch(
        self,
        entity_set: str,
        xml: str,
        *,
        page_size: int | None = None,
        annotations: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Run a FetchXML query on ``entity_set`` and yield its rows, one page in memory.

        The XML is checked before anything is sent: it must be well-formed (the error names
        the line) and query the table of ``entity_set``. Pages follow the paging cookie;
        ``page_size`` sets the ``count`` of each page (at most 5,000). Rows keep Dataverse's
        keys: ``alias.column`` for link-entity columns, aggregate aliases and, with
        ``annotations``, the formatted values.

        :raises InvalidInputError: malformed XML, or a query of another table.
        """
        check_entity_set(entity_set)
        root = check_fetchxml(xml)
        self.check_fetch_table(entity_set, fetch_entity(root))
        pages = iter_fetch_pages(
            self.session, entity_set, root, page_size=page_size, annotations=annotations
        )
        return (row for page in pages for row in page.rows)

    def check_fetch_table(self, entity_set: str, table: str) -> None:
        """Refuse a FetchXML query of ``table`` sent to another table's ``entity_set``.

        Tables the library does not know are looked up once in the org's metadata.
        """
        expected = self._entity_sets.get(table)
        if expected is None:
            body = self.session.get_json(
                f"EntityDefinitions(LogicalName={literal(table)})",
                params={"$select": "EntitySetName"},
            )
            expected = str(body.get("EntitySetName") or "")
            self._entity_sets[table] = expected
        if expected != entity_set:
            raise InvalidInputError(
                f"the FetchXML queries the {table!r} table, whose entity set is {expected!r}, "
                f"but it was sent to {entity_set!r}; the query was not sent"
            )

    def to_dataframe(
        self,
        table: str,
        query: Query | str | None = None,
        *,
        columns: Sequence[str] | None = None,
        entity_set: str | None = None,
        page_size: int | None = None,
    ) -> pd.DataFrame:
        """Read ``table`` (logical name) into a typed pandas DataFrame (``d365leads[pandas]``).

        Date-times are tz-aware (UTC); a choice gives its value and ``<col>_label``; a lookup
        its id, ``<col>_name`` and, for customer/owner lookups, ``<col>_table``. Pages are
        converted as they arrive (one page of JSON at a time).

        :param query: a :class:`~d365leads.odata.Query` or filter text.
        :param columns: logical column names (``$select``); default every column returned.
        :param entity_set: needed for tables this library does not know.
        """
        from d365leads.frames import entity_set_for, read_frame

        target = entity_set_for(table, entity_set)
        q = query if isinstance(query, Query) else Query(target)
        if isinstance(query, str):
            q = q.where(query)
        return read_frame(self.session, table, target, q, columns=columns, page_size=page_size)

    def upsert_dataframe(
        self,
        table: str,
        frame: pd.DataFrame,
        *,
        key: str | Sequence[str],
        columns: Sequence[str] | None = None,
        entity_set: str | None = None,
        batch_size: int = _wire.MAX_BATCH_OPERATIONS,
    ) -> pd.DataFrame:
        """Create or update one record per row of ``frame`` through ``$batch``.

        Every row is checked against the org's column definitions first; any problem raises
        :class:`~d365leads.errors.InvalidInputError` and nothing is written. Returns one result
        row per input row (``key``, ``id``, ``outcome``, ``status``, ``error_code``,
        ``message``), indexed like ``frame``.

        :param key: the primary key column or the alternate key column(s).
        :param columns: the columns to write (default: the writable ones in the frame).
        """
        from d365leads.frames import entity_set_for, upsert_frame

        return upsert_frame(
            self.session, table, entity_set_for(table, entity_set), frame,
            key=key, columns=columns, batch_size=batch_size,
        )  # fmt: skip

    def create_many(self, entity_set: str, rows: Any, **options: Any) -> ManyResult:
        """Create many records through CreateMultiple (``$batch`` where unsupported or to
        isolate a failed chunk); see :meth:`~d365leads.multiple.MultipleAPI.create_many`."""
        return self.multiple.create_many(entity_set, rows, **options)

    def update_many(
        self, entity_set: str, updates: Any, changes: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> ManyResult:  # fmt: skip
        """Update many records through UpdateMultiple: ``(id, changes)`` pairs, or ids and one
        ``changes``; see :meth:`~d365leads.multiple.MultipleAPI.update_many`."""
        return self.multiple.update_many(entity_set, updates, changes, **options)

    def upsert_many(self, entity_set: str, rows: Any, *, key: Any, **options: Any) -> ManyResult:
        """Create or update many records through UpsertMultiple, matched by ``key`` (primary
        or alternate key columns); see :meth:`~d365leads.multiple.MultipleAPI.upsert_many`."""
        return self.multiple.upsert_many(entity_set, rows, key=key, **options)

    def whoami(self) -> WhoAmI:
        """Call ``WhoAmI`` (also records the org's ``x-ms-dop-hint`` in the throttle state)."""
        body = self.session.get_json("WhoAmI")
        try:
            return WhoAmI(
                user_id=normalize_guid(body["UserId"], what="UserId"),
                business_unit_id=normalize_guid(body["BusinessUnitId"], what="BusinessUnitId"),
                organization_id=normalize_guid(body["OrganizationId"], what="OrganizationId"),
            )
        except (KeyError, InvalidInputError) as exc:
            raise DataverseError(f"WhoAmI returned an unexpected body: {exc}") from None

    def __repr__(self) -> str:
        return f"RecordsAPI({self.session.org_url!r})"


def _check_data(data: Mapping[str, Any]) -> None:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"record data must be a mapping, got {type(data).__name__}")


def _entity_id(response: Response, what: str) -> str:
    location = response.headers.get(_wire.HEADER_ENTITY_ID) or response.headers.get("Location")
    if not location:
        raise DataverseError(f"{what}: the response has no {_wire.HEADER_ENTITY_ID} header")
    return id_from_entity_url(location)
