"""RowPlan: how each wire key of one model class is read, worked out once per class.

:meth:`DataverseModel.from_wire <d365leads.models.base.DataverseModel.from_wire>` sits on the
hot path of every typed read. Its reference form splits a row into columns, annotations and
lookups by parsing every key of every row, then runs one ``model_validate`` whose per-field
Python validator runs for all fields and validates each lookup again as a nested model.

A plan reads the same row in one pass with one dict lookup per key (wire key -> what it is),
validates the declared plain columns in a single pydantic-core call, keeps the tenant columns
the model does not declare as they came (as ``model_validate`` with ``extra="allow"`` does) and
builds each lookup straight from its ``_<nav>_value`` and annotation keys. Anything the plan
cannot read exactly like the reference (an invalid value, a lookup pointing at a table it may not
point to, a lookup field sent under its own name) makes :meth:`RowPlan.read` return ``None``, and
the caller runs the reference path, which gives the same model or raises the same error.
"""

from __future__ import annotations

import functools
import inspect
import operator
import typing
from collections.abc import Mapping
from enum import IntEnum
from itertools import compress
from types import NoneType
from typing import Any, Final, Protocol, cast
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import SchemaValidator

from d365leads import _wire
from d365leads.errors import InvalidIdError
from d365leads.models.lookup import Lookup, LookupSpec, new_lookup, parse_id
from d365leads.models.row_shape import RowShape as _Shape
from d365leads.models.wire_keys import (
    ANNOTATION as _ANNOTATION,
)
from d365leads.models.wire_keys import (
    ETAG as _ETAG,
)
from d365leads.models.wire_keys import (
    EXTRA as _EXTRA,
)
from d365leads.models.wire_keys import (
    FIELD as _FIELD,
)
from d365leads.models.wire_keys import (
    FORMATTED as _FORMATTED,
)
from d365leads.models.wire_keys import (
    LOOKUP as _LOOKUP,
)
from d365leads.models.wire_keys import (
    SLOW as _SLOW,
)
from d365leads.models.wire_keys import (
    TABLE as _TABLE,
)
from d365leads.models.wire_keys import (
    TABLE_OTHER as _TABLE_OTHER,
)
from d365leads.models.wire_keys import (
    classify as _classify,
)
from d365leads.models.wire_keys import (
    is_scalar as _is_scalar,
)
from d365leads.models.wire_keys import (
    is_text as _is_text,
)

__all__ = ["RowPlan", "new_lookup"]


class _ModelMeta(Protocol):
    """The class-level declarations of a ``DataverseModel`` subclass that a plan reads."""

    lookups: Mapping[str, LookupSpec]
    state_enum: type[IntEnum] | None
    status_enum: type[IntEnum] | None


#: Keys learnt from rows (tenant columns and their annotations) are remembered up to this many
#: per class, so rows of arbitrary keys cannot grow a plan without bound.
_MAX_LEARNT = 4096
#: Lookup ids seen recently (owners, creators and currencies repeat across rows).
_MAX_IDS = 4096
#: Row shapes (key tuples) remembered per class; a query gives one, a few queries a few.
_MAX_SHAPES = 64
#: Shapes tried, by row size, before a row's keys are hashed to find its shape. A page mixes a
#: few shapes (a null lookup has no annotations, a set one has three), so rows alternate.
_MAX_SHAPES_PER_SIZE = 8
#: Tenant column values kept as they come (anything else may be expanded JSON).
_PLAIN_TYPES: Final = frozenset({str, int, float, bool, NoneType})
#: State and status values read by the plan (others take the reference path).
_ENUM_INPUT_TYPES: Final = frozenset({int, NoneType})
_TEXT: Final = frozenset({str})
_ID_TYPES: Final = frozenset({str, NoneType})
_TEXT_OR_NULL: Final = _ID_TYPES

#: Configuration keys that do not change how a field validates.
_NEUTRAL_CONFIG: Final = frozenset({"extra", "validate_assignment", "title", "frozen"})

_setattr = object.__setattr__


def _fields_validator(name: str, columns: dict[str, Any]) -> SchemaValidator:
    """A validator of ``columns`` giving (values, extra, fields set), without an instance."""
    schema = create_model(
        name, __config__=ConfigDict(extra="ignore"), **columns
    ).__pydantic_core_schema__
    if schema["type"] != "model" or schema["schema"]["type"] != "model-fields":
        raise TypeError(f"unexpected core schema for {name}")
    return SchemaValidator(schema["schema"], schema.get("config"))


class RowPlan:
    """The wire keys of one model class, what each one is, and the validator of its columns.

    Build one with :meth:`for_class`; it is ``None`` for a class the plan cannot read exactly
    like ``model_validate`` (custom validators, aliases, field constraints, non-scalar column
    types, extra private attributes), which then always takes the reference path.
    """

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        meta = cast(_ModelMeta, model)
        #: field name -> whether it is a lookup
        fields = {name: name in meta.lookups for name in model.model_fields}
        #: _<nav>_value -> (field, targets, table when it can only be one)
        self.lookups: dict[str, tuple[str, tuple[str, ...], str | None]] = {
            f"_{name}_value": (
                name,
                spec.targets,
                spec.targets[0] if len(spec.targets) == 1 else None,
            )
            for name, spec in meta.lookups.items()
            if name in fields
        }
        self._fields = fields
        enums: dict[str, type[IntEnum]] = {
            name: enum
            for name, enum in (("statecode", meta.state_enum), ("statuscode", meta.status_enum))
            if enum is not None and name in fields
        }
        #: the state and status columns, read as their enum member when they are one
        self.enums = list(enums)
        known = [_wire.ODATA_ETAG]
        for name in fields:
            known += [name, name + _wire.ANNOTATION_FORMATTED]
        for key in self.lookups:
            known += [
                key,
                key + _wire.ANNOTATION_FORMATTED,
                key + _wire.ANNOTATION_LOOKUP_LOGICAL_NAME,
                key + _wire.ANNOTATION_NAVIGATION_PROPERTY,
            ]
        self.kinds: dict[str, tuple[int, str]] = {
            k: _classify(k, fields, self.lookups) for k in known
        }
        self._learnt = 0
        # The columns validated as the model declares them; lookups arrive built (Any).
        columns: dict[str, Any] = {
            name: (Any if fields[name] else info.annotation, None)
            for name, info in model.model_fields.items()
        }
        for name in self.enums:
            # An int is first tried as a member, as the reference path's validator does.
            enum, declared = enums[name], model.model_fields[name].annotation
            others = [arg for arg in typing.get_args(declared) if arg not in (enum, NoneType)]
            if others:
                either = functools.reduce(operator.or_, [enum, *others, NoneType])
                columns[name] = (either, Field(default=None, union_mode="left_to_right"))
        self._validator = _fields_validator(f"{model.__name__}Columns", columns)
        #: the text columns, taken as they come when they are text or null
        self.texts = frozenset(
            name for name, info in model.model_fields.items() if _is_text(info.annotation)
        )
        #: the other plain columns, validated (a row of a known shape takes them apart; text
        #: columns are not given to it: a pydantic-core field costs more than a type check)
        self._typed = _fields_validator(
            f"{model.__name__}TypedColumns",
            {n: c for n, c in columns.items() if n not in self.texts and not fields[n]},
        )
        self._defaults = dict.fromkeys(model.model_fields)
        self._lookups: dict[tuple[Any, str | None, str | None], Lookup] = {}
        self._last: _Shape | None = None
        self._ids: dict[str, UUID] = {}
        self._shapes: dict[tuple[str, ...], _Shape] = {}
        self._by_size: dict[int, list[_Shape]] = {}

    @classmethod
    def for_class(cls, model: type[BaseModel], base: type[BaseModel]) -> RowPlan | None:
        """The plan of ``model``, or ``None`` when only the reference path reads it exactly.

        ``base`` is the model base class (``DataverseModel``, passed in so that this module does
        not import it): a subclass that adds private attributes or post-init logic to it is read
        by the reference path only.
        """

        decorators = model.__pydantic_decorators__
        if (
            set(decorators.field_validators) != {"_coerce"}
            or decorators.model_validators
            or decorators.validators
            or decorators.root_validators
            or set(model.model_config) - _NEUTRAL_CONFIG
            or model.model_config.get("extra") != "allow"
            or set(model.__private_attributes__) != set(base.__private_attributes__)
            or inspect.unwrap(model.model_post_init) is not inspect.unwrap(base.model_post_init)
        ):
            return None
        for name, info in model.model_fields.items():
            if (
                info.alias is not None
                or info.validation_alias is not None
                or info.default_factory is not None
                or info.metadata
                or info.default is not None
            ):
                return None
            if name not in cast(_ModelMeta, model).lookups and not _is_scalar(info.annotation):
                return None
        return cls(model)

    def _learn(self, key: str) -> tuple[int, str]:
        entry = _classify(key, self._fields, self.lookups)
        if self._learnt < _MAX_LEARNT:
            self._learnt += 1
            self.kinds[key] = entry
        return entry

    def _uuid(self, raw: Any) -> UUID:
        if type(raw) is str:
            found = self._ids.get(raw)
            if found is None:
                found = parse_id(raw)
                if len(self._ids) >= _MAX_IDS:
                    self._ids.clear()
                self._ids[raw] = found
            return found
        return parse_id(raw)

    def _lookup(self, raw: Any, table: str | None, label: str | None) -> Lookup:
        # Lookups are frozen, and the same owner, creator or currency comes back row after row:
        # one instance per (id, table, name) is shared, as equal values would be.
        key = (raw, table, label)
        found = self._lookups.get(key)
        if found is None:
            found = new_lookup(self._uuid(raw), table, label)
            if len(self._lookups) >= _MAX_IDS:
                self._lookups.clear()
            self._lookups[key] = found
        return found

    def read(self, row: Mapping[str, Any]) -> BaseModel | None:
        """The model of ``row``, or ``None`` when the reference path must read it."""
        last = self._last
        size = len(row)
        if last is not None and last.size == size:
            model = self._read_shaped(last, row)
            if model is not None:
                return model
        for known in self._by_size.get(size, ()):
            if known is not last:
                model = self._read_shaped(known, row)
                if model is not None:
                    self._last = known
                    return model
        keys = tuple(row)
        shape = self._shapes.get(keys)
        if shape is None:
            shape = self._learn_shape(keys)
        if shape is not None:
            model = self._read_shaped(shape, row)
            if model is not None:
                self._last = shape
                return model
        return self._read_any(row)

    def _learn_shape(self, keys: tuple[str, ...]) -> _Shape | None:
        kinds = [self.kinds.get(key) or self._learn(key) for key in keys]
        if any(kind == _SLOW for kind, _ in kinds):
            return None
        shape = _Shape(self, keys, kinds)
        if len(self._shapes) < _MAX_SHAPES:
            self._shapes[keys] = shape
            same_size = self._by_size.setdefault(shape.size, [])
            if len(same_size) < _MAX_SHAPES_PER_SIZE:
                same_size.append(shape)
        return shape

    def _read_shaped(self, shape: _Shape, row: Mapping[str, Any]) -> BaseModel | None:
        """Read a row of ``shape``'s keys with C-level item getters and one validation.

        ``None`` when the row has other keys, or a value needs the key-by-key reading (a null or
        non-text formatted value, a JSON object in a tenant column, a state that is not an int).
        A row has exactly the shape's keys when it has as many, each getter found its keys and
        the validation found the shape's typed columns.
        """
        # Values are fetched by the check they need (one getter and one type check per group),
        # then cut apart by position: the fewer calls, the less a row costs.
        if len(row) != shape.size:
            return None
        try:
            text_or_null = shape.get_text_or_null(row)  # text columns, then lookup ids
            text = shape.get_text(row)  # formatted values, then lookup tables
            extra_values = shape.get_extra(row)
            enums = shape.get_enums(row)
            kept = shape.get_kept(row)  # annotations, other tables' names, then the etag
        except KeyError:
            return None
        # A set of the types, then one comparison: cheaper than a membership test per value.
        if not (
            set(map(type, text_or_null)) <= _TEXT_OR_NULL
            and set(map(type, text)) <= _TEXT
            and set(map(type, extra_values)) <= _PLAIN_TYPES
            and set(map(type, enums)) <= _ENUM_INPUT_TYPES
        ):
            return None
        n_texts = shape.n_texts
        raws = text_or_null[n_texts:]
        if "" in raws:
            return None
        try:
            typed, _, typed_set = self._typed.validate_python(row)
        except ValidationError:
            return None
        if typed_set != shape.typed:
            return None
        data = self._defaults.copy()
        data.update(typed)
        data.update(zip(shape.texts, text_or_null, strict=False))
        n_labels = shape.n_labels
        formatted = dict(zip(shape.formatted, text, strict=False))
        n_annotations = shape.n_annotations
        annotations = dict(zip(shape.annotations, kept, strict=False))
        for key, value in zip(shape.other_tables, kept[n_annotations:], strict=False):
            annotations[key] = str(value) if value else value
        # Null lookups stay at their default (None); only the set ones are built.
        cache = self._lookups
        for (key, name, targets, table_at), raw in zip(
            compress(shape.lookups, raws), filter(None, raws), strict=True
        ):
            if table_at < 0:
                table = targets[0] if len(targets) == 1 else None
            else:
                table = text[n_labels + table_at]
                if table not in targets:
                    return None
            label = formatted.get(key)
            found = cache.get((raw, table, label))
            if found is None:
                try:
                    found = self._lookup(raw, table, label)
                except InvalidIdError:
                    return None
            data[name] = found
        etag = kept[-1] if shape.etag else None
        model = self.model.__new__(self.model)
        _setattr(model, "__dict__", data)
        _setattr(model, "__pydantic_fields_set__", set(shape.fields_set))
        _setattr(model, "__pydantic_extra__", dict(zip(shape.extra, extra_values, strict=False)))
        _setattr(
            model,
            "__pydantic_private__",
            {
                "_etag": None if etag is None else str(etag),
                "_formatted": formatted,
                "_annotations": annotations,
                "_binds": {},
                "_expanded": {},
                "_dirty": set(),
                "_loaded": True,
            },
        )
        return model

    def _read_any(self, row: Mapping[str, Any]) -> BaseModel | None:
        """Read any row, sorting its keys one at a time."""
        kinds = self.kinds
        columns: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        formatted: dict[str, str] = {}
        tables: dict[str, str] = {}
        annotations: dict[str, Any] = {}
        expanded: dict[str, Any] = {}
        lookups: dict[str, Any] = {}
        etag: str | None = None
        for key, value in row.items():
            entry = kinds.get(key)
            if entry is None:
                entry = self._learn(key)
            kind = entry[0]
            if kind == _FIELD:
                columns[key] = value
            elif kind == _FORMATTED:
                if value is None:
                    annotations[key] = value
                else:
                    formatted[entry[1]] = str(value)
            elif kind == _LOOKUP:
                lookups[key] = value
            elif kind == _EXTRA:
                if isinstance(value, (dict, list)):
                    expanded[key] = value
                else:
                    extra[key] = value
            elif kind == _ANNOTATION:
                annotations[key] = value
            elif kind == _TABLE:
                if value:
                    tables[entry[1]] = str(value)
                else:
                    annotations[key] = value
            elif kind == _TABLE_OTHER:
                annotations[key] = str(value) if value else value
            elif kind == _ETAG:
                etag = None if value is None else str(value)
            else:
                return None
        if not _ENUM_INPUT_TYPES.issuperset(type(columns.get(name)) for name in self.enums):
            return None
        for key, raw in lookups.items():
            name, targets, only = self.lookups[key]
            label = formatted.get(key)
            if label is not None:
                formatted[name] = label
            if raw is None:
                columns[name] = None
                continue
            table = tables.get(key) or only
            if table is not None and table not in targets:
                return None
            try:
                columns[name] = self._lookup(raw, table, label)
            except InvalidIdError:
                return None
        try:
            data, _, fields_set = self._validator.validate_python(columns)
        except ValidationError:
            return None
        fields_set.update(extra)
        return self._assemble(
            data,
            fields_set,
            extra,
            etag=etag,
            formatted=formatted,
            annotations=annotations,
            expanded=expanded,
        )

    def _assemble(
        self,
        data: dict[str, Any],
        fields_set: set[str],
        extra: dict[str, Any],
        *,
        etag: str | None,
        formatted: dict[str, str],
        annotations: dict[str, Any],
        expanded: dict[str, Any],
    ) -> BaseModel:
        """The model holding the validated columns, as ``from_wire`` leaves it: clean, loaded.

        ``fields_set`` already holds the tenant columns' names.
        """
        model = self.model.__new__(self.model)
        _setattr(model, "__dict__", data)
        _setattr(model, "__pydantic_fields_set__", fields_set)
        _setattr(model, "__pydantic_extra__", extra)
        _setattr(
            model,
            "__pydantic_private__",
            {
                "_etag": etag,
                "_formatted": formatted,
                "_annotations": annotations,
                "_binds": {},
                "_expanded": expanded,
                "_dirty": set(),
                "_loaded": True,
            },
        )
        return model
