"""Parameter types shared by the record commands: status reasons by name, record ids."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import click

from d365leads.models import parse_id

__all__ = ["StatusChoice", "guid_argument"]

if TYPE_CHECKING:
    _IntParamType = click.ParamType[int]
else:  # click < 8.2 has no generic ParamType at runtime
    _IntParamType = click.ParamType


class StatusChoice(_IntParamType):
    """A status reason by name (``cannot-contact``) or by number (tenant-defined reasons)."""

    name = "reason"

    def __init__(self, members: Sequence[IntEnum]) -> None:
        self.by_name = {m.name.lower().replace("_", "-"): int(m.value) for m in members}

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.by_name) + "|NUMBER]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace("_", "-").replace(" ", "-")
        if text in self.by_name:
            return self.by_name[text]
        if text.isdigit():
            return int(text)
        self.fail(
            f"{value!r} is not a known reason; use one of {', '.join(self.by_name)} "
            "or the number of a reason defined in your org",
            param,
            ctx,
        )


def guid_argument(what: str) -> Callable[[click.Context, click.Parameter, str], str]:
    """An argument callback that rejects a malformed id before any request is sent (exit 2)."""

    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        return str(parse_id(value, what=what))

    return check
