"""Declared plug-in steps: a tenant plug-in that throws, written as data instead of code.

A :class:`PluginStep` says "on <event> of <table>, at the pre- or post-operation stage, when
the row matches <when> (and, for Update, one of <attributes> changed), throw
``InvalidPluginExecutionException(status, code, message)``".  The fake answers as the "Handle
errors" page shows such a plug-in: 400 ``0x80040265`` with the message, and under ``Prefer:
odata.include-annotations`` the ``@Microsoft.PowerApps.CDS.ErrorDetails.*``, ``HelpLink``,
``TraceText`` and ``InnerError.Message`` annotations
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors).
Declare steps in ``FakeOptions.plugin_steps`` or under ``"$plugins"`` in a seed file; the
org layer runs them (:mod:`d365leads.fake.org.plugins`).  ``fake.hooks`` stays the code-level
way to simulate anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EVENTS", "OPERATION_STATUS", "STAGES", "PluginStep", "plugin_step"]

EVENTS = ("Create", "Update", "Delete")
STAGES = ("pre", "post")
OPERATION_STATUS = {"Failed": 0, "Canceled": 1, "Retry": 2, "Suspended": 3, "Succeeded": 4}
"""``Microsoft.Xrm.Sdk.OperationStatus``: the first argument of the exception."""

_FIELDS = {
    "event", "table", "stage", "status", "code", "message", "when", "attributes", "plugin",
    "trace",
}  # fmt: skip


@dataclass(frozen=True)
class PluginStep:
    """One declared step (see the module docstring); build it with :func:`plugin_step`."""

    event: str
    table: str
    stage: str
    message: str
    status: int = OPERATION_STATUS["Failed"]
    code: int = 0
    when: tuple[tuple[str, Any], ...] = ()
    attributes: tuple[str, ...] = ()
    plugin: str = "Fake.Plugins.DeclaredStep"
    trace: tuple[str, ...] = ()


def plugin_step(value: PluginStep | Mapping[str, Any]) -> PluginStep:
    """A :class:`PluginStep` from itself or a mapping (seed files, JSON options).

    Raises ``ValueError`` naming the bad field.
    """
    if isinstance(value, PluginStep):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"a plug-in step must be an object of fields, got {value!r}")
    unknown = sorted(set(map(str, value)) - _FIELDS)
    if unknown:
        raise ValueError(
            f"unknown plug-in step field(s) {', '.join(unknown)}; use {', '.join(sorted(_FIELDS))}"
        )
    event = str(value.get("event", ""))
    if event not in EVENTS:
        raise ValueError(f"plug-in step event must be one of {', '.join(EVENTS)}, got {event!r}")
    stage = str(value.get("stage", ""))
    if stage not in STAGES:
        raise ValueError(f"plug-in step stage must be 'pre' or 'post', got {stage!r}")
    table = value.get("table")
    if not isinstance(table, str) or not table.strip():
        raise ValueError(f"plug-in step table must be a table name, got {table!r}")
    message = value.get("message")
    if not isinstance(message, str) or not message:
        raise ValueError(f"plug-in step message must be the error text, got {message!r}")
    code = value.get("code", 0)
    if isinstance(code, bool) or not isinstance(code, int):
        raise ValueError(f"plug-in step code must be a whole number, got {code!r}")
    when = value.get("when") or {}
    if not isinstance(when, Mapping):
        raise ValueError(f"plug-in step when must map columns to values, got {when!r}")
    attributes = value.get("attributes") or ()
    if isinstance(attributes, str) or not all(isinstance(a, str) for a in attributes):
        raise ValueError(f"plug-in step attributes must be a list of columns, got {attributes!r}")
    if attributes and event != "Update":
        raise ValueError("plug-in step attributes (filtering attributes) apply to Update only")
    trace = value.get("trace") or ()
    if isinstance(trace, str):
        trace = (trace,)
    plugin = value.get("plugin", PluginStep.plugin)
    if not isinstance(plugin, str) or not plugin.strip():
        raise ValueError(f"plug-in step plugin must be a type name, got {plugin!r}")
    return PluginStep(
        event=event,
        table=table.strip(),
        stage=stage,
        message=message,
        status=_status(value.get("status", "Failed")),
        code=code,
        when=tuple((str(k), v) for k, v in when.items()),
        attributes=tuple(attributes),
        plugin=plugin.strip(),
        trace=tuple(str(line) for line in trace),
    )


def _status(value: Any) -> int:
    if isinstance(value, str):
        for name, number in OPERATION_STATUS.items():
            if name.lower() == value.lower():
                return number
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value in OPERATION_STATUS.values()
    ):
        return value
    names = ", ".join(f"{n} ({v})" for n, v in OPERATION_STATUS.items())
    raise ValueError(f"plug-in step status must be an OperationStatus: {names}; got {value!r}")
