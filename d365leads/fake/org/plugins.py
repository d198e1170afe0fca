"""Declared plug-in steps at run time: the pre- and post-operation stages of Create, Update and
Delete (declarations: :mod:`d365leads.fake.core.plugin_steps`).

:func:`write_with_steps` wraps one row write (``records.create_record``/``update_record``, the
delete handler).  A matching ``pre`` step throws before the write; a matching ``post`` step
throws after it, and the write is rolled back, as a post-operation plug-in's exception rolls
back the platform's transaction.  The fault is 400 ``0x80040265`` (a plug-in's
``InvalidPluginExecutionException``) with the error-detail annotations the "Handle errors" page
lists; the wire shows them when ``Prefer: odata.include-annotations`` asks
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..core.fault import FakeFault
from ..core.plugin_steps import PluginStep
from ..core.values import Row
from .identity import org_guid
from .schema import Table
from .state import OrgState

__all__ = [
    "CODE_PLUGIN",
    "check_steps",
    "custom_logic_bypassed",
    "plugin_fault",
    "write_with_steps",
]

CODE_PLUGIN = "0x80040265"
_HELP_LINK = (
    "http://go.microsoft.com/fwlink/?LinkID=398563&error=Microsoft.Crm.CrmException%3a{code}"
    "&client=platform"
)
_DETAILS = "Microsoft.PowerApps.CDS."
_BYPASSED: ContextVar[bool] = ContextVar("d365leads_fake_plugin_bypass", default=False)


@contextmanager
def custom_logic_bypassed(active: bool) -> Iterator[None]:
    """Inside the block (one request), declared steps do not run when ``active``: the caller
    sent ``MSCRM.BypassCustomPluginExecution: true`` or ``MSCRM.BypassBusinessLogicExecution:
    CustomSync`` (https://learn.microsoft.com/power-apps/developer/data-platform/bypass-custom-business-logic;
    the prvBypassCustomBusinessLogic privilege is checked by ``handlers/bypass.py``; the
    privilege of the older plug-in header is not modelled)."""
    token = _BYPASSED.set(active)
    try:
        yield
    finally:
        _BYPASSED.reset(token)


def check_steps(org: OrgState, steps: Iterable[PluginStep]) -> None:
    """Raise ``ValueError`` for a step that names an unknown table or column."""
    for step in steps:
        try:
            meta = org.schema.table_named(step.table)
        except KeyError:
            raise ValueError(
                f"plug-in step on {step.event} of {step.table!r}: no such table"
            ) from None
        for column in [name for name, _ in step.when] + list(step.attributes):
            if meta.column(column) is None:
                raise ValueError(
                    f"plug-in step on {step.event} of {meta.logical_name}: no column {column!r}"
                )


def write_with_steps(
    org: OrgState,
    event: str,
    meta: Table,
    image: Row,
    write: Callable[[], Row],
    changed: Iterable[str] = (),
) -> Row:
    """Run ``write`` between the pre and post steps declared for ``event`` on ``meta``.

    ``image`` is the row as it will be (Create, Update) or as it is (Delete): the steps' ``when``
    conditions are matched against it; ``changed`` are the columns an Update sets.
    """
    steps = [s for s in org.options.plugin_steps if _applies(s, event, meta, image, changed)]
    if not steps or _BYPASSED.get():
        return write()
    for step in steps:
        if step.stage == "pre":
            raise plugin_fault(org, step, meta)
    post = [s for s in steps if s.stage == "post"]
    with org.store.transaction():
        stored = write()
        raise plugin_fault(org, post[0], meta)
    return stored  # pragma: no cover - the transaction above always raises


def plugin_fault(org: OrgState, step: PluginStep, meta: Table) -> FakeFault:
    """The fault a declared step throws, with its error-detail annotations."""
    step_id = org_guid(org.org_url, f"pluginstep|{step.event}|{meta.logical_name}|{step.plugin}")
    assembly = step.plugin.rsplit(".", 1)[0]
    lines = "\r\n".join(step.trace)
    trace = (
        f"\r\n[{assembly}: {step.plugin} ]\r\n"
        f"[{step_id}: {step.plugin} : {step.event} of {meta.logical_name}] \r\n\r\n"
        f" {lines}\r\n\r\n"
    )
    return FakeFault(
        400,
        CODE_PLUGIN,
        step.message,
        annotations={
            f"{_DETAILS}ErrorDetails.OperationStatus": str(step.status),
            f"{_DETAILS}ErrorDetails.SubErrorCode": str(step.code),
            f"{_DETAILS}HelpLink": _HELP_LINK.format(code=CODE_PLUGIN[2:]),
            f"{_DETAILS}TraceText": trace,
            f"{_DETAILS}InnerError.Message": step.message,
        },
    )


def _applies(
    step: PluginStep, event: str, meta: Table, image: Mapping[str, Any], changed: Iterable[str]
) -> bool:
    if step.event != event or step.table not in (meta.logical_name, meta.entity_set):
        return False
    if step.attributes and not set(step.attributes) & set(changed):
        return False
    return all(_same(image.get(column), value) for column, value in step.when)


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, str) and isinstance(wanted, str):
        return stored.lower() == wanted.lower() if _looks_like_guid(stored) else stored == wanted
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return stored is wanted
    return bool(stored == wanted)


def _looks_like_guid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4
