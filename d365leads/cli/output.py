"""Render command results as ``table`` (rich), ``json``, ``jsonl``, ``yaml``, ``csv`` or ``tsv``.

Results go to stdout; progress, logs and warnings go to stderr (:attr:`Output.err`). Without
``-o`` the format is ``table`` when stdout is a terminal and ``json`` otherwise, so pipes get
machine-readable output. ``--query`` applies a JMESPath expression to the JSON form of the
result first, as in ``az``. Tables shorten long text unless ``--wide``; CSV and TSV cells that a
spreadsheet would evaluate are neutralised (:mod:`d365leads.csvsafe`) unless ``--raw-csv``.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import json
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import IO, Any

import click
import jmespath
import jmespath.exceptions
import jmespath.parser
import yaml
from rich.console import Console
from rich.table import Table

from d365leads.csvsafe import neutralise

__all__ = [
    "OUTPUT_FORMATS",
    "RECORD_CELL_LIMIT",
    "TABLE_CELL_LIMIT",
    "Output",
    "compile_query",
    "jsonable",
    "resolve_format",
    "to_mapping",
]

OUTPUT_FORMATS = ("table", "json", "jsonl", "yaml", "csv", "tsv")
_UNWRAPPED_WIDTH = 1000
#: Characters of text shown in a cell of a list table / a field-value table without --wide.
TABLE_CELL_LIMIT = 60
RECORD_CELL_LIMIT = 200
_ELLIPSIS = "…"


def compile_query(expression: str) -> jmespath.parser.ParsedResult:
    """Parse a ``--query`` JMESPath expression; a bad one is a usage error (exit 2)."""
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise click.BadParameter(
            f"{expression!r} is not a valid JMESPath expression: {exc}",
            param_hint="--query",
        ) from None


def resolve_format(requested: str | None, stream: IO[str] | None = None) -> str:
    """Return ``requested`` if given, else ``table`` on a terminal and ``json`` otherwise."""
    if requested:
        if requested not in OUTPUT_FORMATS:
            raise click.BadParameter(
                f"unknown output format {requested!r}; choose one of {', '.join(OUTPUT_FORMATS)}",
                param_hint="-o/--output",
            )
        return requested
    out = stream if stream is not None else sys.stdout
    isatty = getattr(out, "isatty", None)
    return "table" if callable(isatty) and isatty() else "json"


def to_mapping(item: Any) -> dict[str, Any]:
    """Turn a row (mapping, pydantic model or dataclass-like object) into a plain dict."""
    if isinstance(item, Mapping):
        return dict(item)
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        result = dump()
        if isinstance(result, dict):
            return result
    if hasattr(item, "__dict__"):
        return {k: v for k, v in vars(item).items() if not k.startswith("_")}
    raise TypeError(f"cannot render {type(item).__name__} as a row")


def jsonable(value: Any) -> Any:
    """Convert ``value`` to something :func:`json.dumps` accepts, keeping its meaning."""
    if isinstance(value, enum.Enum):  # before int: an IntEnum is an int, but YAML wants plain
        return jsonable(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump") or hasattr(value, "__dict__"):
        return jsonable(to_mapping(value))
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return value.name.lower().replace("_", "-")
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Mapping) and set(value) == {"id", "table", "name"}:
        # a lookup: people read the name, scripts use json
        label = f"{value['table']} {value['id']}" if value["table"] else str(value["id"])
        return f"{value['name']} ({label})" if value["name"] else label
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(jsonable(value), ensure_ascii=False)
    return str(value)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


class Output:
    """Writes results in one format to stdout and diagnostics to stderr.

    :param query: a compiled ``--query`` (JMESPath) applied to the JSON form of each result.
    :param wide: show long text in tables whole instead of shortened.
    :param raw_csv: write CSV/TSV cells as they are, formulas included (``--raw-csv``).

    ``color=False`` (``--no-color``) or the ``NO_COLOR`` variable turn colours off.
    """

    def __init__(
        self,
        fmt: str,
        *,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        color: bool = True,
        query: jmespath.parser.ParsedResult | None = None,
        wide: bool = False,
        raw_csv: bool = False,
    ) -> None:
        self.format = fmt
        self._stdout = stdout
        self._stderr = stderr
        self.color = color
        self.query = query
        self.wide = wide
        self.raw_csv = raw_csv
        self._shortened = False

    @property
    def stdout(self) -> IO[str]:
        """The stream results go to (looked up late so test runners can swap it)."""
        return self._stdout if self._stdout is not None else sys.stdout

    @property
    def stderr(self) -> IO[str]:
        """The stream progress, warnings and logs go to."""
        return self._stderr if self._stderr is not None else sys.stderr

    @property
    def is_table(self) -> bool:
        """True when results are shown as tables for people (no ``--query``)."""
        return self.format == "table" and self.query is None

    def console(self) -> Console:
        """A rich console on stdout, for tables and the demo's narration."""
        stream = self.stdout
        isatty = getattr(stream, "isatty", None)
        # On a terminal rich fits tables to its width; into a file or pipe, never wrap cells.
        width = None if callable(isatty) and isatty() else _UNWRAPPED_WIDTH
        return Console(
            file=stream, no_color=not self.color, highlight=False, soft_wrap=False, width=width
        )

    @property
    def err(self) -> Console:
        """A rich console on stderr, for progress bars and warnings."""
        return Console(file=self.stderr, no_color=not self.color, highlight=False, stderr=True)

    def info(self, text: str) -> None:
        """A progress or status line on stderr (never mixed with results)."""
        click.echo(text, file=self.stderr)

    def warn(self, text: str) -> None:
        """A warning on stderr."""
        click.echo(f"Warning: {text}", file=self.stderr)

    def rows(
        self,
        rows: Iterable[Any],
        columns: Sequence[str] | None = None,
        *,
        title: str | None = None,
    ) -> int:
        """Render ``rows`` (dicts or models) and return how many were written."""
        mapped = (self._pick(to_mapping(r), columns) for r in rows)
        if self.query is not None:
            data = [jsonable(row) for row in mapped]
            self.emit(self.query.search(data), title=title)
            return len(data)
        if self.format == "jsonl":
            count = 0
            for row in mapped:
                self._write_json(row)
                count += 1
            return count
        if self.format == "json":
            return self._json_array(mapped)
        materialised = list(mapped)
        if self.format == "yaml":
            self._write_yaml([jsonable(row) for row in materialised])
            return len(materialised)
        cols = list(columns) if columns else _columns(materialised)
        if self.format in ("csv", "tsv"):
            self._write_delimited(materialised, cols)
            return len(materialised)
        table = Table(title=title, show_lines=False, header_style="bold")
        for col in cols:
            table.add_column(col, overflow="fold")
        for row in materialised:
            table.add_row(*(self._table_cell(row.get(c), TABLE_CELL_LIMIT) for c in cols))
        self.console().print(table)
        if not materialised:
            self.info("No rows.")
        self._note_shortened()
        return len(materialised)

    def record(self, record: Any, *, title: str | None = None) -> None:
        """Render one record: a field/value table, or one JSON object."""
        row = to_mapping(record)
        if self.query is not None:
            self.emit(self.query.search(jsonable(row)), title=title)
            return
        if self.format in ("json", "jsonl"):
            self._write_json(row, indent=2 if self.format == "json" else None)
            return
        if self.format == "yaml":
            self._write_yaml(jsonable(row))
            return
        if self.format in ("csv", "tsv"):
            self.rows([row])
            return
        table = Table(title=title, show_header=True, header_style="bold")
        table.add_column("field", style="cyan", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key, value in row.items():
            table.add_row(str(key), self._table_cell(value, RECORD_CELL_LIMIT))
        self.console().print(table)
        self._note_shortened()

    def data(self, value: Any) -> None:
        """Render a free-form result (for example a status summary) as JSON or a table."""
        if isinstance(value, Mapping) or hasattr(value, "model_dump"):
            self.record(value)
        elif isinstance(value, list | tuple):
            self.rows(value)
        elif self.query is not None:
            self.emit(self.query.search(jsonable(value)))
        else:
            click.echo(str(value), file=self.stdout)

    def emit(self, value: Any, *, title: str | None = None) -> None:
        """Render any JSON value (a ``--query`` result): lists of objects as rows, an object
        as a record, scalars one per line in the text formats."""
        value = jsonable(value)
        if self.format == "json":
            self._write_json(value, indent=2)
        elif self.format == "jsonl":
            for item in value if isinstance(value, list) else [value]:
                self._write_json(item)
        elif self.format == "yaml":
            self._write_yaml(value)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            saved, self.query = self.query, None
            try:
                self.rows(value, title=title)
            finally:
                self.query = saved
        elif isinstance(value, dict):
            saved, self.query = self.query, None
            try:
                self.record(value, title=title)
            finally:
                self.query = saved
        else:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item is None:
                    continue
                if self.format in ("csv", "tsv"):
                    # a list of lists ([].[a, b]) is one line per inner list, as in az
                    self._write_delimited_line(item if isinstance(item, list) else [item])
                else:
                    text = _cell(item)
                    click.echo(text if self.wide else self._shorten(text, RECORD_CELL_LIMIT),
                               file=self.stdout)  # fmt: skip
            self._note_shortened()

    @staticmethod
    def _pick(row: dict[str, Any], columns: Sequence[str] | None) -> dict[str, Any]:
        if not columns:
            return row
        return {c: row.get(c) for c in columns}

    def _table_cell(self, value: Any, limit: int) -> str:
        text = _cell(value)
        return text if self.wide else self._shorten(text, limit)

    def _shorten(self, text: str, limit: int) -> str:
        if len(text) <= limit:
            return text
        self._shortened = True
        return text[: limit - 1].rstrip() + _ELLIPSIS

    def _note_shortened(self) -> None:
        if self._shortened:
            self._shortened = False
            self.info("Long values are shortened; use --wide to show them whole.")

    def _write_json(self, value: Any, *, indent: int | None = None) -> None:
        self.stdout.write(json.dumps(jsonable(value), indent=indent, ensure_ascii=False) + "\n")

    def _write_yaml(self, value: Any) -> None:
        self.stdout.write(
            yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False)
        )

    def _json_array(self, rows: Iterable[dict[str, Any]]) -> int:
        out = self.stdout
        count = 0
        out.write("[")
        for row in rows:
            out.write(",\n  " if count else "\n  ")
            out.write(json.dumps(jsonable(row), ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count

    def _write_delimited(self, rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> None:
        # CSV has a header row; TSV, as in az, is values only (for cut, awk and read loops).
        if self.format == "csv":
            self._write_delimited_line(cols)
        for row in rows:
            self._write_delimited_line([row.get(c) for c in cols])

    def _write_delimited_line(self, values: Sequence[Any]) -> None:
        # only text is neutralised: a number the program writes (-5) is data, not a formula
        cells = [
            neutralise(_csv_cell(v)) if isinstance(v, str) and not self.raw_csv else _csv_cell(v)
            for v in values
        ]
        if self.format == "csv":
            csv.writer(self.stdout, lineterminator="\n").writerow(cells)
        else:
            self.stdout.write("\t".join(_tsv_escape(c) for c in cells) + "\n")


def _tsv_escape(text: str) -> str:
    """A tab, newline or backslash inside a TSV value, written as ``\\t``, ``\\n``, ``\\\\``."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(jsonable(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(jsonable(value), ensure_ascii=False)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)
