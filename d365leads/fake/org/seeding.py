"""Seeding: rows straight into the store, past the business rules, with types and refs checked.

Seeding (:func:`seed`, :func:`seed_file`) bypasses business rules but checks tables, columns and
value types, fills system columns and the state/status pair, and resolves symbolic names: a
seed row named ``"$ref": "acme"`` gets a deterministic GUID (:func:`ref`) and ``"$acme"`` in a
lookup column points at it.  A seed file may declare tenant customisations under ``"$schema"``.
All or nothing: a bad row leaves the store (and the names) as they were and raises
:class:`SeedError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.fault import FakeFault
from ..core.plugin_steps import PluginStep, plugin_step
from .customisations import add_alternate_key, add_column
from .identity import org_guid
from .plugins import check_steps
from .records import fill_computed, fill_currency
from .schema import Table
from .state import OrgState
from .states import status_model
from .values import attributes_from_body

__all__ = [
    "SeedError",
    "add_plugin_steps",
    "apply_schema",
    "ref",
    "seed",
    "seed_document",
    "seed_file",
    "table_named",
]

_ETAG = re.compile(r'W/"(\d+)"')


class SeedError(ValueError):
    """Seed data that does not fit the fake's schema (names the table, row and problem)."""


def table_named(org: OrgState, name: str) -> Table:
    """The table ``name`` (logical or entity set name) of the org; ``SeedError`` if unknown."""
    try:
        return org.schema.table_named(name)
    except KeyError as exc:
        raise SeedError(str(exc.args[0])) from None


def apply_schema(org: OrgState, declaration: Any, *, source: str = "$schema") -> None:
    """Apply a seed file's ``"$schema"`` object: ``{"columns": [[table, name, type] or
    {"table", "name", "type"}, …], "alternate_keys": [[table, [columns…]] or {"table",
    "columns"}, …]}``.  All or nothing: ``SeedError`` names the bad entry."""
    if not isinstance(declaration, Mapping):
        raise SeedError(f'{source}: expected an object {{"columns": […], "alternate_keys": […]}}')
    unknown = sorted(set(declaration) - {"columns", "alternate_keys"})
    if unknown:
        raise SeedError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; "
            'use "columns" and "alternate_keys"'
        )
    saved = (org.options.custom_columns, org.options.alternate_keys)
    try:
        for i, item in enumerate(_schema_list(declaration, "columns", source)):
            parts: list[Any]
            if isinstance(item, Mapping):
                parts = [item.get("table"), item.get("name"), item.get("type")]
            else:
                parts = list(item) if isinstance(item, list) else []
            if len(parts) != 3 or not all(isinstance(p, str) for p in parts):
                raise SeedError(
                    f"{source} columns[{i}]: expected [table, name, type] or "
                    f'{{"table": …, "name": …, "type": …}}, got {item!r}'
                )
            add_column(org, *parts)
        for i, item in enumerate(_schema_list(declaration, "alternate_keys", source)):
            if isinstance(item, Mapping):
                table_name, cols = item.get("table"), item.get("columns")
            elif isinstance(item, list) and len(item) == 2:
                table_name, cols = item
            else:
                table_name = cols = None
            if isinstance(cols, str):
                cols = [cols]
            if not isinstance(table_name, str) or not isinstance(cols, list):
                raise SeedError(
                    f"{source} alternate_keys[{i}]: expected [table, [column, …]] or "
                    f'{{"table": …, "columns": […]}}, got {item!r}'
                )
            add_alternate_key(org, table_name, *map(str, cols))
    except ValueError as exc:
        org.options.custom_columns, org.options.alternate_keys = saved
        if isinstance(exc, SeedError):
            raise
        raise SeedError(f"{source}: {exc}") from None


def add_plugin_steps(org: OrgState, declaration: Any, *, source: str = "$plugins") -> None:
    """Add a seed file's ``"$plugins"`` list of plug-in steps (fields as
    :func:`~d365leads.fake.core.plugin_steps.plugin_step` takes them) to the org's options.
    All or nothing: ``SeedError`` names the bad step."""
    if not isinstance(declaration, list):
        raise SeedError(f"{source}: expected a list of plug-in steps")
    steps = []
    for i, item in enumerate(declaration):
        try:
            step = plugin_step(item)
            check_steps(org, [step])
        except ValueError as exc:
            raise SeedError(f"{source}[{i}]: {exc}") from None
        steps.append(step)
    org.options.plugin_steps = (*org.options.plugin_steps, *steps)


def _seed_row(org: OrgState, meta: Table, data: Mapping[str, Any], position: int) -> str:
    where = f"{meta.logical_name} row {position}"
    if not isinstance(data, Mapping):
        raise SeedError(f"{where}: expected an object of column values, got {data!r}")
    data, symbol = _resolve_refs(org, meta, data, where)
    version = _seed_version(data, where)
    try:
        row = attributes_from_body(org, meta, data, allow_readonly=True)
    except FakeFault as fault:
        raise SeedError(f"{where}: {fault.message}") from None
    for column in meta.columns:
        if column.is_polymorphic and row.get(column.name) and not row.get(column.type_attribute):
            found = [t for t in column.targets if org.store.exists(t, str(row[column.name]))]
            if len(found) != 1:
                raise SeedError(
                    f"{where}: cannot tell which table {column.name}={row[column.name]} "
                    f'points to; add "{column.type_attribute}": one of '
                    f"{', '.join(column.targets)} (or seed the target first)"
                )
            row[column.type_attribute] = found[0]
    if meta.has_state:
        model = status_model(meta, org.options)
        state = row.get("statecode")
        status = row.get("statuscode")
        if state is None and status is not None:
            option = model.status(int(status))
            if option is None:
                raise SeedError(f"{where}: statuscode {status} does not exist")
            state = option.state
        state = 0 if state is None else state
        state_option = model.state(int(state))
        if state_option is None:
            raise SeedError(f"{where}: statecode {state} does not exist")
        status = state_option.default_status if status is None else status
        status_option = model.status(int(status))
        if status_option is None or status_option.state != state:
            raise SeedError(f"{where}: statuscode {status} does not belong to statecode {state}")
        row["statecode"], row["statuscode"] = state, status
    fill_computed(meta, row)
    fill_currency(org, meta, row)
    actor = org.caller_id if meta.ownership == "user" else None
    try:
        stored = org.store.insert(meta.logical_name, row, actor=actor, version=version)
    except FakeFault as fault:
        raise SeedError(f"{where}: {fault.message}") from None
    except ValueError as exc:
        raise SeedError(f"{where}: {exc}") from None
    if symbol is not None:
        org.refs[symbol] = meta.logical_name
    return str(stored[meta.primary_key])


def _seed_version(data: dict[str, Any], where: str) -> int | None:
    """Take the row version a seed row may give (``versionnumber`` and/or ``@odata.etag``
    ``W/"<n>"``, as a retrieve shows them) out of ``data``."""
    given: list[int] = []
    number = data.pop("versionnumber", None)
    if number is not None:
        if isinstance(number, bool) or not isinstance(number, (int, str)):
            raise SeedError(f"{where}: versionnumber must be a whole number, got {number!r}")
        if isinstance(number, str) and not number.isdigit():
            raise SeedError(f"{where}: versionnumber must be a whole number, got {number!r}")
        given.append(int(number))
    etag = data.pop("@odata.etag", None)
    if etag is not None:
        match = _ETAG.fullmatch(etag) if isinstance(etag, str) else None
        if match is None:
            raise SeedError(f'{where}: @odata.etag must look like W/"468026", got {etag!r}')
        given.append(int(match.group(1)))
    if not given:
        return None
    if len(set(given)) > 1:
        raise SeedError(
            f"{where}: versionnumber {given[0]} and @odata.etag {etag!r} name different versions"
        )
    if given[0] < 1:
        raise SeedError(f"{where}: versionnumber must be 1 or more, got {given[0]}")
    return given[0]


def ref(org: OrgState, name: str) -> str:
    """The GUID of the seeded row named ``name`` (``"$ref": name``), the same on every run.

    Seed rows name themselves with ``"$ref": "acme"`` and point at each other with
    ``"parentcustomerid": "$acme"`` in any lookup column, so seed files need no GUIDs and
    tests can find the rows again with ``fake.ref("acme")``.
    """
    return org_guid(org.org_url, f"ref|{name}")


def _resolve_refs(
    org: OrgState, meta: Table, data: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], str | None]:
    row = dict(data)
    symbol = row.pop("$ref", None)
    if symbol is not None:
        if not isinstance(symbol, str) or not symbol.strip() or symbol.startswith("$"):
            raise SeedError(f'{where}: "$ref" must be a name such as "acme", not {symbol!r}')
        if symbol in org.refs:
            raise SeedError(f'{where}: "$ref": {symbol!r} already names a {org.refs[symbol]} row')
        given = row.get(meta.primary_key)
        wanted = ref(org, symbol)
        if given is not None and str(given).lower() != wanted:
            raise SeedError(
                f'{where}: give either "$ref" or {meta.primary_key}, not both '
                f"({meta.primary_key} of ${symbol} is {wanted})"
            )
        row[meta.primary_key] = wanted
    for column in meta.columns:
        value = row.get(column.name)
        if column.is_lookup and isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in org.refs:
                raise SeedError(
                    f'{where}: {column.name} is "{value}", but no earlier row has '
                    f'"$ref": "{name}" (seed the row it points to first)'
                )
            row[column.name] = ref(org, name)
    return row, symbol


def seed(
    org: OrgState, table_name: str, rows: Iterable[Mapping[str, Any]] | Mapping[str, Any]
) -> list[str]:
    """Insert rows directly (no business rules; columns and types checked); return ids.

    ``table_name`` is a logical name (``lead``) or entity set (``leads``).  Columns use
    attribute names; lookups take the target GUID (``"parentaccountid": id``, polymorphic
    ones also ``"customeridtype": "account"`` unless the target already exists) or the Web
    API form ``"parentaccountid@odata.bind": "/accounts(id)"``.  System columns
    (``createdon``, ``statecode``, …) may be set, and so may the row version
    (``versionnumber`` or ``@odata.etag`` ``W/"<n>"``; above every earlier version).
    ``"$ref": "name"`` names a row with a deterministic GUID and ``"$name"`` in a lookup
    column points at it (see :meth:`ref`).
    """
    meta = table_named(org, table_name)
    items = [rows] if isinstance(rows, Mapping) else list(rows)
    refs = dict(org.refs)
    try:
        with org.store.transaction():
            return [_seed_row(org, meta, row, i) for i, row in enumerate(items)]
    except BaseException:
        org.refs.clear()
        org.refs.update(refs)  # all or nothing, names included
        raise


def seed_file(org: OrgState, path: str | Path) -> dict[str, list[str]]:
    """Seed from a JSON or YAML file ``{table: [rows…]}`` (logical or entity set names).

    All or nothing: a bad row leaves the store as it was and raises :class:`SeedError`.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"cannot read seed file {file}: {exc.strerror}") from None
    if file.suffix.lower() in (".yaml", ".yml"):
        import yaml  # PyYAML: safe_load only, so a seed file cannot run code

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SeedError(f"{file} is not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SeedError(f"{file} is not valid JSON: {exc}") from None
    return seed_document(org, data, source=str(file))


def seed_document(org: OrgState, data: Any, *, source: str) -> dict[str, list[str]]:
    """Seed a parsed seed document ``{table: [rows…]}`` with optional ``"$schema"`` and
    ``"$plugins"`` (a seed file's content, or the body of ``POST /_fake/seed``).

    All or nothing: anything bad leaves the store, schema, plug-in steps and ``$ref`` names as
    they were and raises :class:`SeedError`, its message starting with ``source``.
    """
    if not isinstance(data, dict):
        raise SeedError(f"{source}: expected an object mapping table names to lists of rows")
    data = dict(data)
    ids: dict[str, list[str]] = {}
    saved = (org.options.custom_columns, org.options.alternate_keys, dict(org.refs))
    steps = org.options.plugin_steps
    with org.store.transaction(), _restore_schema_on_error(org, saved, steps):
        if "$schema" in data:
            apply_schema(org, data.pop("$schema"), source=f"{source}: $schema")
        if "$plugins" in data:
            add_plugin_steps(org, data.pop("$plugins"), source=f"{source}: $plugins")
        for name, rows in data.items():
            if not isinstance(rows, list):
                raise SeedError(f"{source}: {name!r} must map to a list of rows")
            meta = table_named(org, str(name))
            ids.setdefault(meta.logical_name, []).extend(seed(org, meta.logical_name, rows))
    return ids


@contextmanager
def _restore_schema_on_error(
    org: OrgState, saved: tuple[Any, Any, dict[str, str]], steps: tuple[PluginStep, ...]
) -> Iterator[None]:
    try:
        yield
    except BaseException:
        org.options.custom_columns, org.options.alternate_keys, refs = saved
        org.options.plugin_steps = steps
        org.refs.clear()
        org.refs.update(refs)
        raise


def _schema_list(declaration: Mapping[str, Any], name: str, source: str) -> list[Any]:
    items = declaration.get(name, [])
    if not isinstance(items, list):
        raise SeedError(f"{source}: {name!r} must be a list")
    return items
