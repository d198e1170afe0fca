"""Record the Web API traffic of a client into a cassette, redacted before it touches the disk.

:class:`RecordingTransport` wraps any :class:`~d365leads.http.transport.Transport`. Only requests
sent through the pipeline are seen, so login traffic (MSAL talks to the identity provider with its
own HTTP client) never enters a cassette. Each exchange is redacted the moment it completes
(:class:`~d365leads.cassette.Redactor`); only redacted interactions are kept in memory, and
:meth:`save` writes them atomically.
"""

from __future__ import annotations

import datetime as _dt
import os
import threading

from d365leads.cassette import Cassette, Interaction, Matcher, NoMatchError, Redactor
from d365leads.http.transport import Request, Response, Transport

__all__ = ["EpisodesTransport", "RecordingTransport"]


class RecordingTransport:
    """A transport that forwards to ``inner`` and keeps a redacted copy of every exchange."""

    def __init__(
        self,
        inner: Transport,
        org_url: str,
        *,
        redactor: Redactor | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.inner = inner
        self.redactor = redactor or Redactor(org_url)
        self.path = path
        self._lock = threading.Lock()
        self._interactions: list[Interaction] = []

    def __repr__(self) -> str:
        return f"RecordingTransport({len(self._interactions)} interactions, path={self.path!r})"

    @property
    def interactions(self) -> list[Interaction]:
        """The redacted interactions recorded so far (a copy)."""
        with self._lock:
            return list(self._interactions)

    def send(self, request: Request) -> Response:
        """Send through the inner transport and record the redacted exchange."""
        response = self.inner.send(request)
        with self._lock:
            self._interactions.append(
                self.redactor.interaction(
                    request.method,
                    request.url,
                    request.headers,
                    request.content,
                    response.status,
                    dict(response.headers),
                    response.content,
                )
            )
        return response

    def cassette(self) -> Cassette:
        """The recording so far as a :class:`Cassette`."""
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        return Cassette(self.interactions, recorded_at=now.replace("+00:00", "Z"))

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write the cassette (atomically) to ``path`` or the path given at construction."""
        target = path or self.path
        if target is None:
            raise ValueError("RecordingTransport.save() needs a path")
        self.cassette().save(target)

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()


class EpisodesTransport(RecordingTransport):
    """``new_episodes`` mode: answer known requests from a cassette, send and record new ones.

    The saved cassette holds the old interactions followed by the new ones.
    """

    def __init__(
        self,
        inner: Transport,
        org_url: str,
        existing: Cassette,
        *,
        redactor: Redactor | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(inner, org_url, redactor=redactor, path=path)
        self._existing = list(existing.interactions)
        self._placeholder = existing.org_url.rstrip("/")
        self._org_url = org_url.rstrip("/")
        self._matcher = Matcher(self._existing)

    def send(self, request: Request) -> Response:
        """Replay a matching recorded interaction, else go live and record."""
        live = self.redactor.request(request.method, request.url, request.headers, request.content)
        try:
            recorded = self._matcher.find(live).response
        except NoMatchError:
            return super().send(request)
        body = recorded.body_bytes().replace(self._placeholder.encode(), self._org_url.encode())
        headers = {
            k: v.replace(self._placeholder, self._org_url) for k, v in recorded.headers.items()
        }
        if recorded.body is not None and not isinstance(recorded.body, str):
            headers.setdefault("content-type", "application/json")
        return Response(recorded.status, headers, body, request.url)

    def cassette(self) -> Cassette:
        """The old interactions followed by the newly recorded ones."""
        fresh = super().cassette()
        fresh.interactions = self._existing + fresh.interactions
        return fresh
