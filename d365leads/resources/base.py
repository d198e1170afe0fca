"""EntitySet[Model]: typed get/list/create/update/upsert/delete over one table.

Edits of inactive records are refused (:class:`~d365leads.errors.InactiveRecordError`) unless
``force=True``: the product treats inactive leads, accounts, contacts and opportunities as
read-only, while the Web API itself is lenient for these tables
(lead-lifecycle.md rule 3; dataverse-web-api.md §2.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

from d365leads.errors import (
    InactiveRecordError,
    InvalidIdError,
    InvalidInputError,
    NotFoundError,
)
from d365leads.http.pipeline import ApiSession
from d365leads.metadata import StatusMetadata
from d365leads.models.base import DataverseModel, Lookup, parse_id
from d365leads.multiple import ManyResult
from d365leads.odata.query import Expr, Query
from d365leads.records import RecordsAPI
from d365leads.views import ViewsAPI

__all__ = ["EntitySet", "RecordRef"]

M = TypeVar("M", bound=DataverseModel)

RecordRef = DataverseModel | Lookup | UUID | str
"""A record given as its model, a :class:`Lookup`, a :class:`uuid.UUID` or a GUID string."""

_STATE_COLUMNS = frozenset({"statecode", "statuscode"})


class EntitySet(Generic[M]):
    """Typed operations on one table; reached as ``client.leads``, ``client.accounts``, ...

    :param records: dict-level record operations of the client.
    :param session: the client's API session (for actions).
    :param metadata: the client's status-reason cache.
    """

    model: ClassVar[type[DataverseModel]]
    #: statecode values in which records of this table can be edited.
    active_states: ClassVar[frozenset[int]] = frozenset({0})

    def __init__(self, records: RecordsAPI, session: ApiSession, metadata: StatusMetadata) -> None:
        self._records = records
        self._session = session
        self._metadata = metadata

    @property
    def entity_set(self) -> str:
        """The entity set name (``leads``, ``accounts``, ...)."""
        return self.model.entity_set

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.entity_set!r})"

    # -- ids and models ----------------------------------------------------------------------

    def id_of(self, record: RecordRef) -> UUID:
        """The id of ``record``; refuses a malformed id or a record of another table.

        :raises InvalidIdError: the id is not a GUID or the model has no id yet.
        """
        table = self.model.logical_name
        if isinstance(record, DataverseModel):
            if not isinstance(record, self.model):
                raise InvalidInputError(
                    f"expected a {table} (or its id), got a {record.logical_name}"
                )
            if record.id is None:
                raise InvalidIdError(
                    f"this {table} has no {self.model.primary_key}; create it first"
                )
            return record.id
        if isinstance(record, Lookup):
            if record.table is not None and record.table != table:
                raise InvalidInputError(f"expected a {table} reference, got a {record.table} one")
            return record.id
        return parse_id(record, what=f"{table} id")

    def _parse(self, row: Mapping[str, Any]) -> M:
        return self.model.from_wire(row)  # type: ignore[return-value]

    # -- reads -------------------------------------------------------------------------------

    def get(
        self,
        record: RecordRef,
        *,
        select: list[str] | tuple[str, ...] | None = None,
        expand: list[str] | tuple[str, ...] | None = None,
    ) -> M:
        """Read one record (with formatted values and lookup names).

        :raises NotFoundError: no such record.
        """
        record_id = self.id_of(record)
        row = self._records.get(
            self.entity_set, record_id, select=select, expand=expand, annotations=True
        )
        return self._parse(row)

    def list(
        self,
        query: Query | Expr | str | None = None,
        *,
        select: list[str] | tuple[str, ...] | None = None,
        order_by: str | list[str] | None = None,
        top: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[M]:
        """Iterate over matching records, page by page (follows ``@odata.nextLink``).

        :param query: a :class:`~d365leads.odata.Query`, or a filter (``col("x") == 1`` or raw
            filter text).
        """
        q = self._query(query)
        if select:
            q = q.select(*select)
        if order_by:
            q = q.order_by(*([order_by] if isinstance(order_by, str) else order_by))
        if top is not None:
            q = q.top(top)
        for row in self._records.query(self.entity_set, q, page_size=page_size, annotations=True):
            yield self._parse(row)

    def view(self, name_or_id: str) -> Iterator[M]:
        """Run a saved view of this table by name (``"Active Accounts"``) or id, system or
        personal; the rows are the view's columns, in the view's order.

        :raises InvalidInputError: no such view of this table (the message lists the near
            matches), or an ambiguous name.
        """
        views = ViewsAPI(self._records)
        found = views.find(self.model.logical_name, name_or_id)
        return (self._parse(row) for row in views.run(self.entity_set, found))

    def fetch(self, xml: str, *, page_size: int | None = None) -> Iterator[M]:
        """Run a FetchXML query of this table, one page in memory at a time.

        :raises InvalidInputError: malformed XML (the error names the line), or a query of
            another table; nothing is sent.
        """
        rows = self._records.fetch(self.entity_set, xml, page_size=page_size)
        return (self._parse(row) for row in rows)

    def _query(self, query: Query | Expr | str | None) -> Query:
        if query is None:
            return Query(self.entity_set)
        if isinstance(query, Query):
            if query.entity_set and query.entity_set != self.entity_set:
                raise InvalidInputError(
                    f"the query is for {query.entity_set!r}, not {self.entity_set!r}"
                )
            return query
        return Query(self.entity_set).where(query)

    # -- writes ------------------------------------------------------------------------------

    def body_of(self, data: M | Mapping[str, Any], *, changed_only: bool = True) -> dict[str, Any]:
        """The JSON body for ``data``: a model's changes, or a dict of columns.

        A dict may use model values (enums, UUIDs, :class:`Lookup`, records for lookups);
        it goes through the model so lookups become ``@odata.bind`` and types are checked.
        Keys that already are wire keys (``x@odata.bind``) pass through unchanged.
        """
        if isinstance(data, DataverseModel):
            if not isinstance(data, self.model):
                raise InvalidInputError(
                    f"expected a {self.model.logical_name}, got a {data.logical_name}"
                )
            return data.changes() if changed_only else data.to_wire()
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"expected a {self.model.__name__} or a dict of columns, got {type(data).__name__}"
            )
        binds = {k: v for k, v in data.items() if "@" in k}
        columns = {k: v for k, v in data.items() if "@" not in k}
        try:
            model = self.model(**columns)
        except ValueError as exc:
            raise InvalidInputError(f"invalid {self.model.logical_name} columns: {exc}") from exc
        body = model.changes()
        body.update(binds)
        return body

    def create(self, data: M | Mapping[str, Any]) -> M:
        """Create a record and return it as stored (id, defaults, etag, formatted values).

        A model passed in gets its id and etag and is marked clean.
        """
        body = self.body_of(data)
        self._check_create_state(body)
        # read it back with annotations (formatted values, lookup names), like get() does
        created = self.get(self._records.create(self.entity_set, body))
        if isinstance(data, self.model):
            data.mark_clean()
            data.apply_saved(created.etag, {self.model.primary_key: created.id})
        return created

    def _check_create_state(self, body: Mapping[str, Any]) -> None:
        if "statuscode" in body and body["statuscode"] is not None:
            state = body.get("statecode", 0)
            self._check_status(int(body["statuscode"]), int(state if state is not None else 0))

    def update(
        self,
        record: RecordRef,
        changes: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        etag: str | None = None,
    ) -> None:
        """Save changes: a model's changed fields, or ``changes`` (a dict) for ``record``.

        Sends ``If-Match`` with the model's etag (or ``etag``), else ``If-Match: *``, so a
        stale copy fails with :class:`~d365leads.errors.PreconditionFailedError` and a
        missing record with :class:`~d365leads.errors.NotFoundError` (never an upsert).

        :param force: edit an inactive record anyway (the product forbids it; rule 3).
        :raises InactiveRecordError: the record is inactive and ``force`` is False.
        :raises InvalidStatusError: ``statuscode`` does not belong to ``statecode``.
        """
        record_id = self.id_of(record)
        if changes is None:
            if not isinstance(record, self.model):
                raise InvalidInputError(
                    f"pass the changes: update({self.model.logical_name}_id, {{'column': value}}) "
                    f"or update(<{self.model.__name__} with changed fields>)"
                )
            body = record.changes()
        else:
            body = self.body_of(changes)
        key = body.pop(self.model.primary_key, None)
        if key is not None and str(key) != str(record_id):
            raise InvalidInputError(
                f"the changes set {self.model.primary_key}={key} but the record is {record_id}; "
                "a record's id cannot be changed"
            )
        if not body:
            return
        self._check_state_change(record, body)
        if not force and not set(body) <= _STATE_COLUMNS:
            self._ensure_active(record, record_id)
        if etag is None and isinstance(record, DataverseModel):
            etag = record.etag
        self._records.update(self.entity_set, record_id, body, etag=etag)
        if isinstance(record, self.model) and changes is None:
            # the model now matches what was saved: forget the changes, take the new etag
            record.mark_clean()
            self._refresh_version(record, record_id)

    def _refresh_version(self, record: DataverseModel, record_id: UUID) -> None:
        # The model's etag is stale after a write; read the new one (and the state) so the
        # next update of this object neither fails with 412 nor overwrites someone else's edit.
        try:
            row = self._records.get(
                self.entity_set,
                record_id,
                select=[self.model.primary_key, "statecode", "statuscode"],
                annotations=True,
            )
        except NotFoundError:
            return
        self._take_version(record, self.model.from_wire(row))

    @staticmethod
    def _take_version(record: DataverseModel, fresh: DataverseModel) -> None:
        """Give ``record`` the etag, ``statecode`` and ``statuscode`` of ``fresh`` (just read)."""
        names = [name for name in ("statecode", "statuscode") if name in fresh.model_fields_set]
        record.apply_saved(
            fresh.etag,
            {name: getattr(fresh, name) for name in names},
            {name: label for name in names if (label := fresh.formatted(name)) is not None},
        )

    def upsert(
        self,
        data: M | Mapping[str, Any],
        *,
        key: UUID | str | Mapping[str, Any] | None = None,
        create_only: bool = False,
        update_only: bool = False,
        force: bool = False,
    ) -> UUID | None:
        """Create or update by id or alternate key (PATCH without ``If-Match``).

        :param key: the record id or an alternate key (``{"accountnumber": "A-1"}``); defaults
            to the model's id.
        :returns: the id when Dataverse reports it.
        :raises InactiveRecordError: updating an existing inactive record without ``force``
            (unless ``create_only``, the record is read first, by id or by alternate key; a
            missing record is created).
        """
        body = self.body_of(data, changed_only=False)
        body.pop(self.model.primary_key, None)
        if key is None:
            if isinstance(data, DataverseModel) and data.id is not None:
                key = data.id
            elif isinstance(data, Mapping) and data.get(self.model.primary_key) is not None:
                key = self.id_of(data[self.model.primary_key])
            else:
                raise InvalidInputError(
                    f"upsert needs a key: the {self.model.primary_key} or an alternate key dict"
                )
        if not isinstance(key, Mapping):
            key = self.id_of(key)
        if not force and not create_only:
            found = self._current(key)
            if found is not None and found[1] is not None and found[1] not in self.active_states:
                raise self._inactive_error(found[0], found[1])
        self._check_state_change(None, body)
        result = self._records.upsert(
            self.entity_set, key, body, create_only=create_only, update_only=update_only
        )
        return parse_id(result) if result else None

    def create_many(self, records: Iterable[M | Mapping[str, Any]], **options: Any) -> ManyResult:
        """Create many records (models or dicts) through CreateMultiple, ``$batch`` where the
        table lacks it; one outcome per record with its new id (``chunk_size=``,
        ``bypass_custom_logic=`` as :meth:`~d365leads.multiple.MultipleAPI.create_many`)."""
        rows = [self.body_of(r, changed_only=False) for r in records]
        return self._records.multiple.create_many(
            self.entity_set, rows, table=self.model.logical_name, **options
        )

    def update_many(
        self,
        records: Iterable[RecordRef],
        changes: M | Mapping[str, Any],
        **options: Any,
    ) -> ManyResult:
        """Apply the same ``changes`` to many existing records through UpdateMultiple (state
        changes only where the org accepts them there; otherwise ``$batch``)."""
        ids = [str(self.id_of(r)) for r in records]
        return self._records.multiple.update_many(
            self.entity_set, ids, self.body_of(changes), table=self.model.logical_name, **options
        )

    def upsert_many(
        self, records: Iterable[M | Mapping[str, Any]], *, key: str | Sequence[str], **options: Any
    ) -> ManyResult:
        """Create or update many records through UpsertMultiple, matched by ``key`` (the
        primary key column or an alternate key's columns)."""
        rows = [self.body_of(r, changed_only=False) for r in records]
        return self._records.multiple.upsert_many(
            self.entity_set, rows, key=key, table=self.model.logical_name, **options
        )

    def delete(self, record: RecordRef, *, etag: str | None = None, force: bool = False) -> None:
        """Delete a record (``If-Match`` with the model's etag when it has one)."""
        record_id = self.id_of(record)
        if etag is None and isinstance(record, DataverseModel):
            etag = record.etag
        self._check_delete(record, record_id, force=force)
        self._records.delete(self.entity_set, record_id, etag=etag)

    def _check_delete(self, record: RecordRef, record_id: UUID, *, force: bool) -> None:
        """Hook for tables that protect some records from deletion."""

    # -- state -------------------------------------------------------------------------------

    def _check_status(self, status: int, state: int) -> None:
        reasons = self._metadata.status_reasons(self.model.logical_name)
        name = self._state_name(state)
        reasons.check(status, state, state_label=None if name is None else f"{name} ({state})")

    def _state_name(self, state: int) -> str | None:
        """The title-cased name of ``state`` in the model's state enum, if it has one."""
        if self.model.state_enum is not None:
            try:
                return self.model.state_enum(state).name.title()
            except ValueError:
                pass
        return None

    def _check_state_change(self, record: RecordRef | None, body: Mapping[str, Any]) -> None:
        if body.get("statuscode") is None:
            return
        status = int(body["statuscode"])
        state = body.get("statecode")
        if state is None:
            if (
                isinstance(record, DataverseModel)
                and getattr(record, "statecode", None) is not None
            ):
                state = record.statecode  # type: ignore[attr-defined]
            else:
                # statuscode alone must belong to the record's current state (§1.5)
                found = self._metadata.status_reasons(self.model.logical_name).find(status)
                state = found.state if found is not None else 0
        self._check_status(status, int(state))

    def _current(self, key: UUID | Mapping[str, Any]) -> tuple[UUID, int | None] | None:
        """``(id, statecode)`` of the record at ``key`` (id or alternate key), or None if it
        does not exist."""
        try:
            row = self._records.get(
                self.entity_set, key, select=[self.model.primary_key, "statecode"]
            )
        except NotFoundError:
            return None
        value = row.get("statecode")
        record_id = row.get(self.model.primary_key)
        if record_id is None and isinstance(key, UUID):
            record_id = key
        return parse_id(record_id), int(value) if value is not None else None

    def _known_state(self, record: RecordRef, record_id: UUID) -> int:
        """The statecode: from a fresh model, else read with a GET.

        :raises NotFoundError: the record does not exist.
        """
        if (
            isinstance(record, DataverseModel)
            and record.loaded
            and getattr(record, "statecode", None) is not None
            and "statecode" not in record.changed_fields
        ):
            return int(record.statecode)  # type: ignore[attr-defined]
        row = self._records.get(
            self.entity_set, record_id, select=[self.model.primary_key, "statecode"]
        )
        return int(row.get("statecode") or 0)

    def _ensure_active(self, record: RecordRef, record_id: UUID) -> None:
        state = self._known_state(record, record_id)
        if state not in self.active_states:
            raise self._inactive_error(record_id, state)

    def _inactive_error(self, record_id: UUID, state: int) -> InactiveRecordError:
        name = self._state_name(state) or str(state)
        return InactiveRecordError(
            f"{self.model.logical_name} {record_id} is inactive ({name}); inactive records are "
            "read-only: reactivate it first, or pass {override} to edit it anyway"
        )

    def _set_state(
        self, record: RecordRef, state: int, status: int, *, etag: str | None = None
    ) -> None:
        """PATCH ``statecode`` and ``statuscode`` together (SetState is deprecated)."""
        record_id = self.id_of(record)
        self._check_status(int(status), int(state))
        if etag is None and isinstance(record, DataverseModel):
            etag = record.etag
        self._records.update(
            self.entity_set,
            record_id,
            {"statecode": int(state), "statuscode": int(status)},
            etag=etag,
        )
        if isinstance(record, self.model):
            self._refresh_version(record, record_id)
