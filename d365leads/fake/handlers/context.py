"""The request context every handler receives: the org, the parsed request and the caller.

Handlers are functions of a :class:`RequestContext` (plus what the router parsed from the path,
such as the table and the key) that return a ``FakeResponse`` or raise a ``FakeFault``.  They
reach the org's state only through ``ctx.org`` and never see the pipeline: journal, faults,
throttling and impersonation have run before the router builds the context.
"""

from __future__ import annotations

from typing import NamedTuple

from ..core.options import FakeOptions
from ..org.state import OrgState
from ..wire.messages import FakeRequest

__all__ = ["RequestContext"]


class RequestContext(NamedTuple):
    """One request being handled: ``org``, ``request`` and the effective :attr:`caller_id`.

    A tuple: it is built for every request and every ``$batch`` operation, so it stays cheap.
    """

    org: OrgState
    request: FakeRequest

    @property
    def caller_id(self) -> str:
        """The systemuser the request acts as (after ``MSCRMCallerID`` / ``acting_as``; the
        pipeline set it for this thread before routing)."""
        return self.org.identity.caller_id

    @property
    def options(self) -> FakeOptions:
        """The org's rule switches and limits (read per request: tests may replace them)."""
        return self.org.options
