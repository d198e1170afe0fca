"""Field assignment on a model: validate the one assigned field, not the whole model.

With ``validate_assignment`` pydantic-core checks an assignment through the model's validator,
which goes over every declared field each time (about 4 µs on a 40-column lead, most of a PATCH
body's cost). A validator holding only the assigned field gives the same value and, because it
keeps the model's name, title and the field's whole schema (its ``mode="before"`` coercion
included), the same ``ValidationError``. It is used only where nothing else can differ:

* the model is not frozen and its schema is the plain model (no model validator around it);
* the field is not frozen;
* no validator of the field takes ``ValidationInfo`` besides the model's own coercion, which
  ignores ``info.data`` (the one-field validator sees no other fields there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import SchemaValidator

__all__ = ["field_validators"]


def field_validators(
    model: type[BaseModel], coercion: Callable[..., Any]
) -> Mapping[str, SchemaValidator]:
    """One validator per field of ``model`` that may be assigned without the model's validator.

    :param model: the model class.
    :param coercion: the model's own ``info``-taking field validator (the classmethod or its
        function), known not to read the other fields.
    :returns: validators by field name; fields left out go through pydantic's assignment.
    """
    coercion = getattr(coercion, "__func__", coercion)
    if model.model_config.get("frozen"):
        return {}
    schema: Mapping[str, Any] = model.__pydantic_core_schema__
    definitions: list[Any] = []
    if schema.get("type") == "definitions":
        definitions = list(schema["definitions"])
        schema = schema["schema"]
    if schema.get("type") != "model" or schema.get("cls") is not model:
        return {}
    fields_schema = schema["schema"]
    if fields_schema.get("type") != "model-fields":
        return {}
    config = schema.get("config")
    validators: dict[str, SchemaValidator] = {}
    for name, field in fields_schema["fields"].items():
        info = model.model_fields.get(name)
        if info is None or info.frozen or field.get("frozen") or _other_info(field, coercion):
            continue
        one_field = {**fields_schema, "fields": {name: field}}
        if definitions:
            one_field = {"type": "definitions", "schema": one_field, "definitions": definitions}
        validators[name] = SchemaValidator(one_field, config)
    return validators


def _other_info(schema: Any, coercion: Callable[..., Any]) -> bool:
    """True when ``schema`` holds a function taking ``ValidationInfo`` other than ``coercion``."""
    if isinstance(schema, Mapping):
        if schema.get("type") == "with-info" and "function" in schema:
            function = schema["function"]
            return getattr(function, "__func__", function) is not coercion
        return any(_other_info(value, coercion) for value in schema.values())
    if isinstance(schema, (list, tuple)):
        return any(_other_info(value, coercion) for value in schema)
    return False
