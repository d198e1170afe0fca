"""DataverseModel: wire JSON <-> typed records, with lookups, annotations and dirty-field tracking.

Read side: plain columns by logical name, ``_<nav>_value`` lookups with their
``FormattedValue`` / ``lookuplogicalname`` annotations, ``@odata.etag`` and formatted values.
Write side: only the fields changed since the record was loaded, lookups as
``<nav>@odata.bind: "/<entityset>(<id>)"``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api).
Columns the model does not declare (tenant customisations) are kept as extra attributes and
written back when changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationInfo, field_validator

from d365leads import _wire
from d365leads.errors import InvalidIdError, InvalidInputError
from d365leads.models.assignment import field_validators
from d365leads.models.lookup import ENTITY_SETS, Lookup, LookupSpec, entity_set_of, parse_id
from d365leads.models.row_plan import RowPlan

__all__ = [
    "ENTITY_SETS",
    "DataverseModel",
    "Lookup",
    "LookupSpec",
    "entity_set_of",
    "parse_id",
]

_BIND = "@odata.bind"
_NO_PLAN = object()
M = TypeVar("M", bound="DataverseModel")


_AS_IS = frozenset({str, int, float, bool, type(None)})


def _wire_value(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _wire_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire_value(v) for v in value]
    return value


class DataverseModel(BaseModel):
    """Base of the typed table models.

    Fields carry Dataverse logical names. Build one to create a record
    (``Lead(subject="Website inquiry", lastname="Lee")``) or parse a row with
    :meth:`from_wire`; change attributes and :meth:`changes` returns the PATCH body.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    logical_name: ClassVar[str]
    entity_set: ClassVar[str]
    primary_key: ClassVar[str]
    primary_name: ClassVar[str]
    lookups: ClassVar[Mapping[str, LookupSpec]] = {}
    read_only: ClassVar[frozenset[str]] = frozenset(
        {"createdon", "modifiedon", "versionnumber", "overriddencreatedon"}
    )
    state_enum: ClassVar[type[IntEnum] | None] = None
    status_enum: ClassVar[type[IntEnum] | None] = None

    _etag: str | None = PrivateAttr(default=None)
    _formatted: dict[str, str] = PrivateAttr(default_factory=dict)
    _annotations: dict[str, Any] = PrivateAttr(default_factory=dict)
    _binds: dict[str, str | None] = PrivateAttr(default_factory=dict)
    _expanded: dict[str, Any] = PrivateAttr(default_factory=dict)
    _dirty: set[str] = PrivateAttr(default_factory=set)
    _loaded: bool = PrivateAttr(default=False)

    def model_post_init(self, context: Any, /) -> None:
        """Everything given to the constructor counts as changed (it is what a create sends)."""
        self._dirty = set(self.model_fields_set)

    def __setattr__(self, name: str, value: Any) -> None:
        cls = type(self)
        validators = cls.__dict__.get("__field_validators__")
        if validators is None:
            validators = field_validators(cls, DataverseModel._coerce)
            type.__setattr__(cls, "__field_validators__", validators)
        validator = validators.get(name)
        if validator is not None:
            # What pydantic's validate_assignment does for this field, without the other 39.
            # pydantic-core returns (fields, extra, fields set) for a model-fields schema.
            result: Any = validator.validate_assignment({}, name, value)
            self.__dict__[name] = result[0][name]
            self.__pydantic_fields_set__.add(name)
            self.__pydantic_private__["_dirty"].add(name)  # type: ignore[index]
            return
        super().__setattr__(name, value)
        if not name.startswith("_"):
            # Private attributes live in __pydantic_private__; ``self._dirty`` would go through
            # BaseModel.__getattr__ on every assignment.
            self.__pydantic_private__["_dirty"].add(name)  # type: ignore[index]

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        self._dirty.discard(name)

    @field_validator("*", mode="before")
    @classmethod
    def _coerce(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        if name in cls.lookups and value is not None:
            return _to_lookup(cls.lookups[name], value)
        if name == "statecode" and cls.state_enum is not None:
            return _to_enum(cls.state_enum, value)
        if name == "statuscode" and cls.status_enum is not None:
            return _to_enum(cls.status_enum, value)
        return value

    # -- read side ---------------------------------------------------------------------------

    @classmethod
    def from_wire(cls: type[M], row: Mapping[str, Any]) -> M:
        """Parse a row as returned by the Web API (annotations included when present).

        Reads the row through the class's :class:`~d365leads.models.row_plan.RowPlan` (one pass,
        one validation); a row the plan cannot read exactly takes :meth:`_from_wire_validated`,
        which gives the same model or raises the same error.
        """
        plan: RowPlan | None = cls.__dict__.get("__row_plan__", _NO_PLAN)
        if plan is _NO_PLAN:
            plan = RowPlan.for_class(cls, DataverseModel)
            type.__setattr__(cls, "__row_plan__", plan)
        if plan is not None:
            model = plan.read(row)
            if model is not None:
                return model  # type: ignore[return-value]  # the plan of cls builds a cls
        return cls._from_wire_validated(row)

    @classmethod
    def _from_wire_validated(cls: type[M], row: Mapping[str, Any]) -> M:
        """The reference reading of a wire row: split it, then one ``model_validate``."""
        plain: dict[str, Any] = {}
        formatted: dict[str, str] = {}
        lookup_tables: dict[str, str] = {}
        annotations: dict[str, Any] = {}
        etag: str | None = None
        for key, value in row.items():
            if key == _wire.ODATA_ETAG:
                etag = str(value) if value is not None else None
            elif key.startswith("@"):
                annotations[key] = value
            elif "@" in key:
                base, _, suffix = key.partition("@")
                if "@" + suffix == _wire.ANNOTATION_FORMATTED and value is not None:
                    formatted[base] = str(value)
                elif "@" + suffix == _wire.ANNOTATION_LOOKUP_LOGICAL_NAME and value:
                    lookup_tables[base] = str(value)
                else:
                    annotations[key] = value
            else:
                plain[key] = value
        for name, spec in cls.lookups.items():
            key = f"_{name}_value"
            if key in plain:
                raw = plain.pop(key)
                if key in formatted:
                    formatted[name] = formatted[key]
                if raw is None:
                    plain[name] = None
                else:
                    table = lookup_tables.get(key)
                    if table is None and len(spec.targets) == 1:
                        table = spec.targets[0]
                    plain[name] = Lookup(id=parse_id(raw), table=table, name=formatted.get(key))
        expanded = {k: plain.pop(k) for k, v in list(plain.items()) if isinstance(v, (dict, list))}
        for key, table in lookup_tables.items():
            if key not in {f"_{n}_value" for n in cls.lookups}:
                annotations[key + _wire.ANNOTATION_LOOKUP_LOGICAL_NAME] = table
        model = cls.model_validate(plain)
        model._etag = etag
        model._formatted = formatted
        model._annotations = annotations
        model._expanded = expanded
        model._dirty = set()
        model._loaded = True
        return model

    @property
    def id(self) -> UUID | None:
        """The primary key, when known."""
        value = getattr(self, self.primary_key, None)
        return value if isinstance(value, UUID) else None

    @property
    def etag(self) -> str | None:
        """The ``@odata.etag`` the record was read with (sent as ``If-Match`` on update)."""
        return self._etag

    @property
    def loaded(self) -> bool:
        """True when the model was parsed from a Dataverse response."""
        return self._loaded

    @property
    def extra(self) -> dict[str, Any]:
        """Columns the model does not declare (tenant customisations), by logical name."""
        return dict(self.model_extra or {})

    @property
    def annotations(self) -> dict[str, Any]:
        """Annotations other than formatted values and lookup table names, by wire key."""
        return dict(self._annotations)

    def expanded(self, navigation: str) -> Any:
        """The raw JSON Dataverse returned for an ``$expand``-ed navigation property, if any."""
        return self._expanded.get(navigation)

    def formatted(self, column: str) -> str | None:
        """The formatted value Dataverse sent for ``column`` (label, currency text, name...).

        Needs ``Prefer: odata.include-annotations`` on the read (the resources ask for it).
        """
        return self._formatted.get(column)

    def lookup(self, column: str) -> Lookup | None:
        """The lookup in ``column``; also works for lookups the model does not declare."""
        value = getattr(self, column, None)
        if isinstance(value, Lookup):
            return value
        raw = (self.model_extra or {}).get(f"_{column}_value")
        if raw is None:
            return None
        key = f"_{column}_value"
        table = self._annotations.get(key + _wire.ANNOTATION_LOOKUP_LOGICAL_NAME)
        return Lookup(id=parse_id(raw), table=table, name=self._formatted.get(key))

    # -- write side --------------------------------------------------------------------------

    @property
    def changed_fields(self) -> frozenset[str]:
        """Names of the columns changed since load (or set at construction)."""
        return frozenset(self._dirty | set(self._binds))

    def bind(self, navigation: str, table: str, record_id: UUID | str | None) -> None:
        """Set a lookup the model does not declare: ``<navigation>@odata.bind``.

        :param navigation: the single-valued navigation property (e.g. ``new_regionid``).
        :param table: logical name of the target table.
        :param record_id: the target row, or ``None`` to clear the reference.
        """
        if record_id is None:
            self._binds[navigation + _BIND] = None
        else:
            self._binds[navigation + _BIND] = f"/{entity_set_of(table)}({parse_id(record_id)})"

    def apply_saved(
        self, etag: str | None, values: Mapping[str, Any], formatted: Mapping[str, str] = {}
    ) -> None:
        """Take values Dataverse now holds (after a write) without marking them as changes.

        :param etag: the record's new ``@odata.etag``.
        :param values: columns by logical name.
        :param formatted: their new formatted values (labels); missing ones are forgotten.
        """
        for name, value in values.items():
            setattr(self, name, value)
            self._dirty.discard(name)
            if name in formatted:
                self._formatted[name] = formatted[name]
            else:
                self._formatted.pop(name, None)
        self._etag = etag

    def mark_clean(self) -> None:
        """Forget the tracked changes (after they were saved)."""
        self._dirty = set()
        self._binds = {}

    def changes(self) -> dict[str, Any]:
        """The JSON body holding only the changed fields (for PATCH, or POST of a new record).

        :raises InvalidInputError: when a read-only column was changed.
        """
        return self._body(sorted(self.__pydantic_private__["_dirty"]))  # type: ignore[index]

    def to_wire(self) -> dict[str, Any]:
        """The JSON body holding every set field (for POST or an upsert of the whole record)."""
        names = set(self.model_fields_set) | set(self.model_extra or {}) | self._dirty
        names -= self.read_only
        names = {n for n in names if not n.startswith("_")}
        names -= {n for n, spec in self.lookups.items() if spec.read_only}
        return self._body(sorted(names))

    def _body(self, names: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        # Columns and tenant columns are read from where pydantic keeps them (attribute access
        # of a tenant column goes through BaseModel.__getattr__, the slow path of a PATCH body).
        values = self.__dict__
        extra = self.__pydantic_extra__ or {}
        lookups = self.lookups
        for name in names:
            if name in self.read_only or name.startswith("_"):
                raise InvalidInputError(
                    f"{self.logical_name}.{name} is read-only (Dataverse computes it); "
                    "remove it from the changes"
                )
            if name in values:
                value = values[name]
            elif name in extra:
                value = extra[name]
            else:
                value = getattr(self, name, None)
            spec = lookups.get(name)
            if spec is not None:
                if spec.read_only:
                    raise InvalidInputError(
                        f"{self.logical_name}.{name} is set by Dataverse and cannot be written"
                    )
                if value is None:
                    if spec.polymorphic:
                        raise InvalidInputError(
                            f"clearing {self.logical_name}.{name} needs the table it points to; "
                            f"use bind('{spec.navigation}_<table>', table, None)"
                        )
                    body[spec.bind_key(None)] = None
                else:
                    assert isinstance(value, Lookup)
                    table = value.table
                    body[spec.bind_key(table)] = (
                        f"/{entity_set_of(table or spec.targets[0])}({value.id})"
                    )
                continue
            body[name] = _wire_value(value)
        body.update(self.__pydantic_private__["_binds"])  # type: ignore[index]
        return body

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if value is not None:
                yield name, value


def _to_enum(enum: type[IntEnum], value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, (bool, Enum)):
        try:
            return enum(value)
        except ValueError:
            return value
    return value


def _to_lookup(spec: LookupSpec, value: Any) -> Any:
    if isinstance(value, Lookup):
        if value.table is not None and value.table not in spec.targets:
            raise ValueError(
                f"points to {value.table!r} but can only point to {', '.join(spec.targets)}"
            )
        return value
    if isinstance(value, DataverseModel):
        if value.logical_name not in spec.targets:
            raise ValueError(
                f"a {value.logical_name} cannot go here; expected {', '.join(spec.targets)}"
            )
        if value.id is None:
            raise ValueError(f"the {value.logical_name} has no id yet; create it first")
        name = getattr(value, value.primary_name, None)
        return Lookup(
            id=value.id, table=value.logical_name, name=name if isinstance(name, str) else None
        )
    if isinstance(value, (UUID, str)):
        table = spec.targets[0] if len(spec.targets) == 1 else None
        try:
            return Lookup(id=parse_id(value), table=table)
        except InvalidIdError as exc:
            raise ValueError(str(exc)) from None
    return value
