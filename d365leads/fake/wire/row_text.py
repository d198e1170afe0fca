"""A render plan's steps written straight to JSON text: ``json.dumps`` of the entity, no dict.

``json.dumps`` of a page spent most of its time encoding the same 60-odd keys of every row
(``"_ownerid_value@OData.Community.Display.V1.FormattedValue"`` …).  :class:`TextPlan` encodes
each ``, "key": `` once, when it is made, and per row writes:

* a run of plain columns: their values in one C-level ``json`` call, split at a separator that
  cannot occur in its output, and laced with the keys;
* a column that may carry annotations: one *fragment* (``, "key": value, "key@…": "text"``).
  A formatted column's fragment is a pure function of the plan and the value, so the fragments
  of int, bool and text values are kept per plan (at most :data:`FRAGMENT_LIMIT` per column;
  floats are never kept: ``0.0 == -0.0`` and ``1 == 1.0 == True`` print differently).  A
  lookup's fragment holds the target's name, which the store may change: it is kept only in
  the ``memo`` the caller hands in, one per request.

The result is byte for byte ``json.dumps(plan.render(row, resolve_name))`` (the tests hold the
two together on generated rows, awkward strings and nested values included).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from ..core.values import Row

__all__ = [
    "FORMAT",
    "FRAGMENT_LIMIT",
    "LOOKUP",
    "PLAIN",
    "RUN",
    "TextPlan",
    "json_key",
]

# Step kinds of a render plan (``render_plan.RenderPlan``), and their layouts:
RUN = 0  # (RUN, names, props, prefixes); in a TextPlan (RUN, names, prefixes)
PLAIN = 1  # (PLAIN, name, prop, prefix)
FORMAT = 2  # (FORMAT, name, prop, prefix, make, key, prefix of key)
LOOKUP = 3  # (LOOKUP, name, prop, prefix, type attribute, default target,
#              (key, prefix) of the name, navigation and table annotations or None,
#              navigation names by target, own name)

FRAGMENT_LIMIT = 256
"""Formatted fragments kept per column of a plan (low-cardinality columns fill far fewer)."""


NameResolver = Callable[[str, str], "str | None"]

# With ``ensure_ascii`` every control character in a string is escaped (``\u0000``), so a raw
# NUL in the output of the values encoder can only be its item separator.
_SEPARATOR = "\x00"
_encode_values = json.JSONEncoder(separators=(_SEPARATOR, ": ")).encode
_encode = json.JSONEncoder().encode
_ETAG_PREFIX = '{"@odata.etag": '
_KEPT_TYPES = (int, bool, str)
_FINITE_MIN = -sys.float_info.max
_FINITE_MAX = sys.float_info.max


def json_key(key: str) -> str:
    """``, "key": `` as ``json.dumps`` writes it between two members of an object."""
    return ", " + encode_basestring_ascii(key) + ": "


def _scalar(value: Any) -> str:
    """One value as ``json.dumps`` writes it inside an object."""
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is float and _FINITE_MIN <= value <= _FINITE_MAX:  # not NaN nor an infinity
        return float.__repr__(value)
    return _encode(value)


_Text = tuple[Any, ...]


class TextPlan:
    """The text writer of one render plan's ``steps`` (see the module docstring)."""

    __slots__ = ("_steps", "_write")

    def __init__(self, steps: tuple[tuple[Any, ...], ...]) -> None:
        out: list[_Text] = []
        names: list[str] = []
        prefixes: list[str] = []
        for step in steps:
            kind = step[0]
            if kind == RUN:
                names.extend(step[1])
                prefixes.extend(step[3])
                continue
            if kind == PLAIN:
                names.append(step[1])
                prefixes.append(step[3])
                continue
            if names:
                out.append((RUN, tuple(names), tuple(prefixes)))
                names, prefixes = [], []
            null = step[3] + "null"
            if kind == FORMAT:
                out.append((FORMAT, step[1], null, step[3], step[4], step[6], {}))
            else:
                _, name, _, prefix, type_attribute, default, *keys, nav, own = step
                label, navigation, table = (k[1] if k is not None else None for k in keys)
                lookup = (LOOKUP, name, null, prefix, type_attribute, default)
                out.append((*lookup, label, navigation, table, nav, own))
        if names:
            out.append((RUN, tuple(names), tuple(prefixes)))
        self._steps = tuple(out)
        self._write = _writer(self._steps)

    def render(
        self,
        row: Row,
        resolve_name: NameResolver | None = None,
        memo: dict[tuple[str, str, Any], str] | None = None,
    ) -> str:
        """``row`` as JSON text; ``memo`` keeps lookup fragments (one per request: names move)."""
        return self._write(row, resolve_name, {} if memo is None else memo)

    @staticmethod
    def _formatted(step: _Text, value: Any) -> str:
        kind = type(value)
        kept: dict[tuple[type, Any], str] = step[6]
        if kind in _KEPT_TYPES:
            found: str | None = kept.get((kind, value))
            if found is not None:
                return found
        text = step[4](value)
        fragment: str = step[3] + _scalar(value)
        if text is not None:
            fragment += step[5] + _scalar(text)
        if kind in _KEPT_TYPES and len(kept) < FRAGMENT_LIMIT:
            kept[(kind, value)] = fragment
        return fragment

    @staticmethod
    def _lookup(
        step: _Text,
        row: Row,
        value: Any,
        resolve_name: NameResolver | None,
        memo: dict[tuple[str, str, Any], str],
    ) -> str:
        _, name, _, prefix, type_attribute, default, label_key, nav_key, table_key, nav, own = step
        target = row.get(type_attribute) if type_attribute is not None else None
        target = target or default
        kept = type(value) is str and (target is None or type(target) is str)
        if kept:
            found = memo.get((name, value, target))
            if found is not None:
                return found
        fragment: str = prefix + _scalar(value)
        if target is not None:
            if label_key is not None and resolve_name is not None:
                label = resolve_name(target, str(value))
                if label is not None:
                    fragment += label_key + _scalar(label)
            if nav_key is not None:
                fragment += nav_key + _scalar(nav.get(target, own))
            if table_key is not None:
                fragment += table_key + _scalar(target)
        if kept:
            memo[(name, value, target)] = fragment
        return fragment


# --- one generated writer per plan ---------------------------------------------------------
#
# A row is written by straight-line code made once per plan (as ``dataclasses`` makes
# ``__init__``), so there is no per-column loop, dispatch or step unpacking.  The source holds
# only names of the form ``s<i>``/``n<i>``/``k<i>`` and fixed text: every column name, key and
# prefix is a value of the steps tuple, read into those locals, never written into the source.

_HEAD_CODE = """
        head = ETAG_PREFIX + encode_basestring_ascii(f'W/"{row["versionnumber"]}"')"""
_RUN_CODE = """
    values = list(map(get, n{i}))
    parts = encode_values(values)[1:-1].split(SEPARATOR)
    if len(parts) != len(values):
        parts = list(map(scalar, values))
    laced = [""] * (2 * len(parts))
    laced[::2] = x{i}
    laced[1::2] = parts
    p{i} = "".join(laced)"""

_FORMAT_CODE = """
    value = get(n{i})
    if value is None:
        p{i} = z{i}
    else:
        kind = type(value)
        p{i} = k{i}.get((kind, value)) if kind in KEPT_TYPES else None
        if p{i} is None:
            p{i} = formatted(s{i}, value)"""

_LOOKUP_CODE = """
    value = get(n{i})
    p{i} = z{i} if value is None else lookup(s{i}, row, value, resolve_name, memo)"""


def _writer(steps: tuple[_Text, ...]) -> Callable[..., str]:
    """``TextPlan.render``'s body for ``steps`` as one compiled function (see above)."""
    binds: list[str] = []
    body: list[str] = []
    for i, step in enumerate(steps):
        binds.append(f"    s{i} = steps[{i}]")
        if step[0] == RUN:
            binds.append(f"    n{i}, x{i} = s{i}[1], s{i}[2]")
            body.append(_RUN_CODE.format(i=i))
        elif step[0] == FORMAT:
            binds.append(f"    n{i}, z{i}, k{i} = s{i}[1], s{i}[2], s{i}[6]")
            body.append(_FORMAT_CODE.format(i=i))
        else:
            binds.append(f"    n{i}, z{i} = s{i}[1], s{i}[2]")
            body.append(_LOOKUP_CODE.format(i=i))
    pieces = ", ".join(f"p{i}" for i in range(len(steps)))
    source = "\n".join(
        [
            "def make(steps):",
            *binds,
            "    def write(row, resolve_name, memo):",
            "        get = row.get",
            '        head = ETAG_PREFIX + encode_basestring_ascii(f\'W/"{row["versionnumber"]}"\')',
            *(line and "    " + line for chunk in body for line in chunk.split("\n")),
            f"        return ''.join((head, {pieces}{', ' if pieces else ''}'}}'))",
            "    return write",
        ]
    )
    scope: dict[str, Any] = {
        "ETAG_PREFIX": _ETAG_PREFIX,
        "KEPT_TYPES": _KEPT_TYPES,
        "SEPARATOR": _SEPARATOR,
        "encode_basestring_ascii": encode_basestring_ascii,
        "encode_values": _encode_values,
        "formatted": TextPlan._formatted,
        "lookup": TextPlan._lookup,
        "scalar": _scalar,
    }
    exec(compile(source, "<row_text writer>", "exec"), scope)
    write: Callable[..., str] = scope["make"](steps)
    return write
