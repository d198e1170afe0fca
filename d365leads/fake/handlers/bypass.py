"""``MSCRM.BypassBusinessLogicExecution``: a write that skips custom synchronous and asynchronous
logic (plug-ins, workflows), allowed only to callers with the ``prvBypassCustomBusinessLogic``
privilege (https://learn.microsoft.com/power-apps/developer/data-platform/bypass-custom-business-logic).

The only custom logic the fake runs is the declared plug-in steps (``org/plugins.py`` skips
them under this header); here it checks the value (``CustomSync``, ``CustomAsync`` or both)
and, with ``FakeOptions.bypass_logic_privilege`` off, refuses the request as Dataverse
refuses a caller without the privilege: 403 ``0x80040220``, the documented "missing
privilege" code (the message text is UNCONFIRMED).
Top-level requests and each ``$batch`` operation are checked (the router sees both).
"""

from __future__ import annotations

from ..core.fault import FakeFault, bad_request
from .context import RequestContext

__all__ = ["BYPASS_HEADER", "check_bypass"]

BYPASS_HEADER = "MSCRM.BypassBusinessLogicExecution"
_VALUES = frozenset({"customsync", "customasync"})
_MISSING_PRIVILEGE = "0x80040220"


def check_bypass(ctx: RequestContext) -> None:
    """Refuse a bad bypass value, or a bypass by a caller without the privilege."""
    value = ctx.request.header(BYPASS_HEADER)
    if value is None:
        return
    parts = {p.strip().lower() for p in value.split(",") if p.strip()}
    if not parts or parts - _VALUES:
        raise bad_request(
            f"The value '{value}' of {BYPASS_HEADER} is not valid: use CustomSync, "
            "CustomAsync or CustomSync,CustomAsync."
        )
    if not ctx.org.options.bypass_logic_privilege:
        raise FakeFault(
            403,
            _MISSING_PRIVILEGE,
            f"Principal user (Id={ctx.caller_id}, type=8) is missing "
            "prvBypassCustomBusinessLogic privilege.",
        )
