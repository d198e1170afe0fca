"""pandas DataFrames in and out of Dataverse (the optional extra ``d365leads[pandas]``).

Reading types each column from the org's column definitions (``EntityDefinitions/Attributes``):
date-times are timezone-aware (UTC), choices give the value and a ``<col>_label`` column,
lookups an id column plus ``<col>_name`` (and ``<col>_table`` for customer/owner lookups).
Pages are converted as they arrive, so no more than one page of JSON is held at a time.

Writing validates every row before anything is sent, then upserts through ``$batch``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api)
with continue-on-error, and answers with one result row per input row. pandas is imported
only inside these functions: ``import d365leads`` never loads it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from d365leads import _wire
from d365leads.batch import BatchRequest
from d365leads.errors import InvalidIdError, InvalidInputError
from d365leads.http.pipeline import ApiSession
from d365leads.metadata import StatusMetadata, TableAttributes
from d365leads.models import ENTITY_SETS, Account, Contact, DataverseModel, Lead, Opportunity
from d365leads.odata.literals import normalize_guid
from d365leads.odata.paths import entity_path, odata_bind
from d365leads.odata.query import Query

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["entity_set_for", "frame_from_rows", "import_pandas", "read_frame", "upsert_frame"]

_CHOICES = {"Picklist", "State", "Status"}
_LOOKUPS = {"Lookup", "Customer", "Owner"}
_INTEGERS = {"Integer", "BigInt"}
_NUMBERS = {"Decimal", "Double", "Money"}
_MODELS: Mapping[str, type[DataverseModel]] = {
    m.logical_name: m for m in (Lead, Account, Contact, Opportunity)
}
_STATE_COLUMNS = {"statecode", "statuscode"}
#: Columns to_dataframe adds next to a choice or lookup (they are never written back).
_DERIVED_SUFFIXES = ("_label", "_name", "_table")


def import_pandas() -> Any:
    """``pandas``, or an error that says how to install it."""
    try:
        import pandas
    except ImportError:
        raise InvalidInputError("DataFrames need pandas: pip install 'd365leads[pandas]'") from None
    return pandas


def _kind(attributes: TableAttributes, column: str) -> str:
    info = attributes.get(column)
    return info.type if info is not None else "String"


def _row_values(
    row: Mapping[str, Any], columns: Sequence[str], attributes: TableAttributes
) -> dict[str, Any]:
    """The typed cells of one wire row (annotations included) for ``columns``."""
    out: dict[str, Any] = {}
    for column in columns:
        kind = _kind(attributes, column)
        if kind in _LOOKUPS:
            key = f"_{column}_value"
            out[column] = row.get(key)
            out[f"{column}_name"] = row.get(key + _wire.ANNOTATION_FORMATTED)
            if kind != "Lookup":
                out[f"{column}_table"] = row.get(key + _wire.ANNOTATION_LOOKUP_LOGICAL_NAME)
        elif kind in _CHOICES:
            out[column] = row.get(column)
            out[f"{column}_label"] = row.get(column + _wire.ANNOTATION_FORMATTED)
        else:
            out[column] = row.get(column)
    return out


def _dtype_columns(frame: Any, columns: Sequence[str], attributes: TableAttributes) -> Any:
    pd = import_pandas()
    for column in columns:
        kind = _kind(attributes, column)
        if kind == "DateTime":
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        elif kind in _CHOICES or kind in _INTEGERS:
            frame[column] = frame[column].astype("Int64")
        elif kind in _NUMBERS:
            frame[column] = frame[column].astype("Float64")
        elif kind == "Boolean":
            frame[column] = frame[column].astype("boolean")
        else:
            frame[column] = frame[column].astype("string")
    for name in frame.columns:
        if str(name).endswith(_DERIVED_SUFFIXES) and str(name) not in columns:
            frame[name] = frame[name].astype("string")
    return frame


def frame_from_rows(
    rows: Iterable[Mapping[str, Any]],
    attributes: TableAttributes,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A typed DataFrame from wire rows; each row is converted as it comes (a generator over
    pages keeps only its current page of JSON).

    :param columns: the logical columns to keep; by default every column the rows carry.
    """
    pd = import_pandas()
    wanted = list(columns) if columns else None
    cells: dict[str, list[Any]] = {}
    order: list[str] = []
    count = 0
    for row in rows:
        names = wanted or _columns_of(row)
        for name in names:
            if name not in order:
                order.append(name)
        for key, value in _row_values(row, names, attributes).items():
            cells.setdefault(key, [None] * count).append(value)
        count += 1
        for values in cells.values():  # columns first seen in later rows: pad earlier ones
            if len(values) < count:
                values.append(None)
    layout: list[str] = []
    for name in order or (wanted or []):
        layout += [k for k in _row_values({}, [name], attributes)]
    frame = pd.DataFrame({k: cells.get(k, [None] * count) for k in layout}, columns=layout)
    return _dtype_columns(frame, order or (wanted or []), attributes)


def _columns_of(row: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for key in row:
        if "@" in key:
            continue
        if key.startswith("_") and key.endswith("_value"):
            names.append(key[1:-6])
        else:
            names.append(key)
    return names


def _select(columns: Sequence[str], attributes: TableAttributes) -> list[str]:
    return [f"_{c}_value" if _kind(attributes, c) in _LOOKUPS else c for c in columns]


def read_frame(
    session: ApiSession,
    table: str,
    entity_set: str,
    query: Query,
    *,
    columns: Sequence[str] | None = None,
    page_size: int | None = None,
) -> pd.DataFrame:
    """Run ``query`` on ``entity_set`` page by page and return a typed DataFrame."""
    import_pandas()
    attributes = StatusMetadata(session).attributes(table)
    if columns:
        unknown = [c for c in columns if attributes.get(c) is None]
        if unknown:
            raise InvalidInputError(f"{table} has no column {', '.join(map(repr, unknown))}")
        query = query.select(*_select(columns, attributes))
    pages = session.iter_pages(
        entity_set,
        params=query.to_params(),
        page_size=page_size,
        prefer=[_wire.PREFER_INCLUDE_ALL_ANNOTATIONS],
    )
    rows = (row for page in pages for row in page.rows)
    return frame_from_rows(rows, attributes, columns)


def entity_set_for(table: str, entity_set: str | None) -> str:
    """The entity set of ``table`` (a logical name); ``entity_set`` for tables this library
    does not know."""
    if entity_set:
        return entity_set
    if table in ENTITY_SETS:
        return ENTITY_SETS[table]
    if table in ENTITY_SETS.values():
        raise InvalidInputError(
            f"{table!r} is an entity set; pass the table's logical name "
            f"({next(k for k, v in ENTITY_SETS.items() if v == table)!r})"
        )
    raise InvalidInputError(
        f"unknown table {table!r}: pass entity_set= as well (e.g. entity_set='{table}s')"
    )


def _scalar(value: Any) -> Any:
    """A plain Python value: numpy scalars unwrapped, every kind of missing value as None."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def _wire_value(kind: str, value: Any) -> Any:
    """``value`` as the Web API wants it for a column of ``kind``; ValueError says why not."""
    if value is None:
        return None
    if kind == "DateTime":
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO date-time") from None
        if hasattr(value, "to_pydatetime"):
            value = value.to_pydatetime()
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValueError("the date-time has no timezone (use tz-aware values, e.g. UTC)")
            return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        if isinstance(value, dt.date):
            return value.isoformat()
        raise ValueError(f"expected a date-time, got {type(value).__name__}")
    if kind in _CHOICES or kind in _INTEGERS:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        return value
    if kind in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected true/false, got {value!r}")
        return value
    if kind == "Uniqueidentifier":
        try:
            return normalize_guid(value)
        except InvalidIdError as exc:
            raise ValueError(str(exc)) from None
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__} {value!r}")
    return value


def _bind(
    table: str, column: str, target: str | None, record_id: Any, kind: str
) -> tuple[str, str]:
    """``(key, value)`` of the ``@odata.bind`` that writes a lookup."""
    try:
        guid = normalize_guid(record_id, what=f"{column} id")
    except InvalidIdError as exc:
        raise ValueError(str(exc)) from None
    model = _MODELS.get(table)
    spec = model.lookups.get(column) if model is not None else None
    if target is None and spec is not None and len(spec.targets) == 1:
        target = spec.targets[0]
    if target is None:
        raise ValueError(f"say which table it points to in a '{column}_table' column")
    if spec is not None and target not in spec.targets:
        raise ValueError(f"points to {target!r}; it can only point to {', '.join(spec.targets)}")
    if target not in ENTITY_SETS:
        raise ValueError(f"cannot bind to table {target!r}")
    key = spec.bind_key(target) if spec is not None else f"{column}{_wire_bind(kind, target)}"
    return key, odata_bind(ENTITY_SETS[target], guid)


def _wire_bind(kind: str, target: str) -> str:
    # Customer/owner lookups have one navigation property per target table
    return f"_{target}@odata.bind" if kind != "Lookup" else "@odata.bind"


def _write_columns(
    frame: Any, keys: Sequence[str], attributes: TableAttributes, columns: Sequence[str] | None
) -> list[str]:
    problems: list[str] = []
    chosen: list[str] = []
    explicit = columns is not None
    for name in columns if columns is not None else [str(c) for c in frame.columns]:
        if name in keys:
            continue
        info = attributes.get(name)
        if info is None:
            base = next((name[: -len(s)] for s in _DERIVED_SUFFIXES if name.endswith(s)), None)
            if not explicit and base is not None and attributes.get(base) is not None:
                continue  # a label/name/table column from to_dataframe
            problems.append(f"{name!r} is not a column of {attributes.table}")
        elif name in _STATE_COLUMNS or not info.writable:
            if explicit:
                why = "use the lifecycle methods" if name in _STATE_COLUMNS else "read-only"
                problems.append(f"{name!r} cannot be written here ({why})")
        elif explicit and name not in frame.columns:
            problems.append(f"{name!r} is not in the DataFrame")
        else:
            chosen.append(name)
    if problems:
        raise InvalidInputError(
            "the DataFrame cannot be written, nothing was sent: " + "; ".join(problems)
        )
    return chosen


def upsert_frame(
    session: ApiSession,
    table: str,
    entity_set: str,
    frame: pd.DataFrame,
    *,
    key: str | Sequence[str],
    columns: Sequence[str] | None = None,
    batch_size: int = _wire.MAX_BATCH_OPERATIONS,
) -> pd.DataFrame:
    """Validate every row of ``frame``, then upsert the rows through ``$batch``.

    :param key: the primary key column (``accountid``) or the column(s) of an alternate key.
    :param columns: the columns to write (default: every writable column in the frame; the
        ``_label``/``_name`` columns of :func:`read_frame`, read-only columns and
        statecode/statuscode are left out). A missing (NA) lookup is left unchanged.
    :returns: one row per input row (same index): ``key``, ``id``, ``outcome`` (``upserted``,
        ``failed`` or ``not run``), ``status``, ``error_code``, ``message``.
    :raises InvalidInputError: any problem in any row; nothing is written then.
    """
    pd = import_pandas()
    if not 1 <= batch_size <= _wire.MAX_BATCH_OPERATIONS:
        raise InvalidInputError(f"batch_size must be 1 to {_wire.MAX_BATCH_OPERATIONS}")
    keys = [key] if isinstance(key, str) else list(key)
    attributes = StatusMetadata(session).attributes(table)
    missing = [k for k in keys if k not in frame.columns]
    if missing or not keys:
        raise InvalidInputError(f"the key column(s) {missing or keys} are not in the DataFrame")
    model = _MODELS.get(table)
    by_id = len(keys) == 1 and keys[0] == (model.primary_key if model else f"{table}id")
    write = _write_columns(frame, keys, attributes, columns)
    problems: list[str] = []
    plans: list[tuple[Any, str, dict[str, Any]]] = []
    seen: dict[str, Any] = {}
    for label, row in frame.iterrows():
        where = f"row {label!r}"
        key_values = {k: _scalar(row[k]) for k in keys}
        try:
            if any(v is None for v in key_values.values()):
                raise ValueError(f"the key {', '.join(keys)} is empty")
            if by_id:
                path = entity_path(entity_set, normalize_guid(key_values[keys[0]]))
            else:
                path = entity_path(entity_set, {
                    k: _wire_value(_kind(attributes, k), v) for k, v in key_values.items()
                })  # fmt: skip
        except (ValueError, InvalidInputError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        if path in seen:
            problems.append(f"{where}: the same key as row {seen[path]!r}")
            continue
        seen[path] = label
        body: dict[str, Any] = {}
        for column in write:
            kind = _kind(attributes, column)
            value = _scalar(row[column])
            try:
                if kind in _LOOKUPS:
                    if value is None:
                        continue
                    target = row.get(f"{column}_table")
                    bind_key, bind_value = _bind(table, column, _scalar(target), value, kind)
                    body[bind_key] = bind_value
                else:
                    body[column] = _wire_value(kind, value)
            except ValueError as exc:
                problems.append(f"{where}: {column}: {exc}")
        plans.append((label, path, body))
    if problems:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise InvalidInputError(
            f"{len(problems)} problem(s) in the DataFrame, nothing was written: {shown}{more}"
        )
    results: list[dict[str, Any]] = []
    for start in range(0, len(plans), batch_size):
        chunk = plans[start : start + batch_size]
        batch = BatchRequest(session, continue_on_error=True, max_operations=len(chunk))
        for _, path, body in chunk:
            batch.patch(path, body, if_match=None)  # no If-Match: create or update
        for (label, path, _), result in zip(chunk, batch.execute(), strict=True):
            error = result.error
            results.append(
                {
                    "index": label,
                    "key": path.partition("(")[2][:-1],
                    "id": result.entity_id,
                    "outcome": "upserted"
                    if result.ok
                    else ("failed" if result.executed else "not run"),
                    "status": result.status if result.executed else None,
                    "error_code": getattr(error, "code", None) if error is not None else None,
                    "message": str(error) if error is not None else None,
                }
            )
    out = pd.DataFrame(
        results, columns=["index", "key", "id", "outcome", "status", "error_code", "message"]
    )
    out = out.set_index("index")
    out.index.name = frame.index.name
    out["status"] = out["status"].astype("Int64")
    return out
