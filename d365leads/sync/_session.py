"""Accept a client or its session wherever sync needs to send requests."""

from __future__ import annotations

from typing import Protocol

from d365leads.http.pipeline import ApiSession

__all__ = ["SessionSource", "session_of"]


class _HasSession(Protocol):
    @property
    def session(self) -> ApiSession: ...


SessionSource = ApiSession | _HasSession
"""An :class:`ApiSession`, or an object holding one as ``.session`` (a ``DataverseClient``)."""


def session_of(source: SessionSource) -> ApiSession:
    """The session of ``source`` (a ``DataverseClient`` or an ``ApiSession``)."""
    if isinstance(source, ApiSession):
        return source
    session = getattr(source, "session", None)
    if isinstance(session, ApiSession):
        return session
    raise TypeError(f"expected a DataverseClient or an ApiSession, got {type(source).__name__}")
