"""Render command results as ``table`` (rich), ``json``, ``jsonl`` or ``csv``.

Results go to stdout; progress, logs and warnings go to stderr (:attr:`Output.err`). Without
``-o`` the format is ``table`` when stdout is a terminal and ``json`` otherwise, so pipes get
machine-readable output.
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
from rich.console import Console
from rich.table import Table

__all__ = [
    "OUTPUT_FORMATS",
    "Output",
    "jsonable",
    "resolve_format",
    "to_mapping",
]

OUTPUT_FORMATS = ("table", "json", "jsonl", "csv")
_UNWRAPPED_WIDTH = 1000


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
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
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

    ``color=False`` (``--no-color``) or the ``NO_COLOR`` variable turn colours off.
    """

    def __init__(
        self,
        fmt: str,
        *,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        color: bool = True,
    ) -> None:
        self.format = fmt
        self._stdout = stdout
        self._stderr = stderr
        self.color = color

    @property
    def stdout(self) -> IO[str]:
        """The stream results go to (looked up late so test runners can swap it)."""
        return self._stdout if self._stdout is not None else sys.stdout

    @property
    def stderr(self) -> IO[str]:
        """The stream progress, warnings and logs go to."""
        return self._stderr if self._stderr is not None else sys.stderr

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
        mapped = (to_mapping(r) for r in rows)
        if self.format == "jsonl":
            count = 0
            for row in mapped:
                self._write_json(self._pick(row, columns))
                count += 1
            return count
        if self.format == "json":
            return self._json_array(mapped, columns)
        materialised = [self._pick(row, columns) for row in mapped]
        cols = list(columns) if columns else _columns(materialised)
        if self.format == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(cols)
            for row in materialised:
                writer.writerow([_csv_cell(row.get(c)) for c in cols])
            return len(materialised)
        table = Table(title=title, show_lines=False, header_style="bold")
        for col in cols:
            table.add_column(col, overflow="fold")
        for row in materialised:
            table.add_row(*(_cell(row.get(c)) for c in cols))
        self.console().print(table)
        if not materialised:
            self.info("No rows.")
        return len(materialised)

    def record(self, record: Any, *, title: str | None = None) -> None:
        """Render one record: a field/value table, or one JSON object."""
        row = to_mapping(record)
        if self.format in ("json", "jsonl"):
            self._write_json(row, indent=2 if self.format == "json" else None)
            return
        if self.format == "csv":
            self.rows([row])
            return
        table = Table(title=title, show_header=True, header_style="bold")
        table.add_column("field", style="cyan", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key, value in row.items():
            table.add_row(str(key), _cell(value))
        self.console().print(table)

    def data(self, value: Any) -> None:
        """Render a free-form result (for example a status summary) as JSON or a table."""
        if isinstance(value, Mapping) or hasattr(value, "model_dump"):
            self.record(value)
        elif isinstance(value, list | tuple):
            self.rows(value)
        else:
            click.echo(str(value), file=self.stdout)

    @staticmethod
    def _pick(row: dict[str, Any], columns: Sequence[str] | None) -> dict[str, Any]:
        if not columns:
            return row
        return {c: row.get(c) for c in columns}

    def _write_json(self, value: Any, *, indent: int | None = None) -> None:
        self.stdout.write(json.dumps(jsonable(value), indent=indent, ensure_ascii=False) + "\n")

    def _json_array(self, rows: Iterable[dict[str, Any]], columns: Sequence[str] | None) -> int:
        out = self.stdout
        count = 0
        out.write("[")
        for row in rows:
            out.write(",\n  " if count else "\n  ")
            out.write(json.dumps(jsonable(self._pick(row, columns)), ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count


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
