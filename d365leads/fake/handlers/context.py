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
    """One request being handled: ``org``, ``request`` and the effective ``caller_id``."""

    org: OrgState
    request: FakeRequest
    caller_id: str
    """The systemuser the request acts as (after ``MSCRMCallerID`` / ``acting_as``)."""

    @classmethod
    def of(cls, org: OrgState, request: FakeRequest) -> RequestContext:
        """The context of ``request`` on the current thread (the caller the pipeline set)."""
        # A tuple: built once per request and per $batch operation, so it is kept cheap.
        return cls(org, request, org.identity.caller_id)

    @property
    def options(self) -> FakeOptions:
        """The org's rule switches and limits (read per request: tests may replace them)."""
        return self.org.options
