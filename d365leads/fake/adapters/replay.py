"""Replay a cassette as a handler of the fake, in-process or through the local server.

``CassettePlayer`` is an ordinary :data:`~d365leads.fake.wire.messages.Handler`: the
``responses`` adapter and the threaded server both serve it the same way. Each live request is
redacted exactly as the recording was (so a request that carried a real e-mail still matches its
pseudonymised recording), matched play-once and in order, and answered with the recorded
response; the placeholder org URL inside the response is rewritten to the URL the client is
talking to, so ``@odata.nextLink`` and ``OData-EntityId`` keep working through the server.

An unmatched request gets ``501`` with the code ``CassetteMismatch`` and a message naming the
closest recorded interaction and how the request differs from it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

from d365leads.cassette import Cassette, Matcher, NoMatchError, Redactor

from ..core.fault import FakeFault
from ..wire.errors import fault_response
from ..wire.messages import FakeRequest, FakeResponse

__all__ = ["MISMATCH_CODE", "CassettePlayer"]

MISMATCH_CODE = "CassetteMismatch"


class CassettePlayer:
    """A handler answering requests from a recorded cassette."""

    def __init__(
        self,
        cassette: Cassette | str | os.PathLike[str],
        *,
        allow_repeats: bool = False,
        key: str | None = None,
    ) -> None:
        self.cassette = (
            cassette if isinstance(cassette, Cassette) else Cassette.load(Path(cassette))
        )
        self.matcher = Matcher(self.cassette.interactions, allow_repeats=allow_repeats)
        self._key = key
        self._lock = threading.Lock()
        self.misses: list[str] = []

    def __repr__(self) -> str:
        return f"CassettePlayer({len(self.cassette.interactions)} interactions)"

    def __call__(self, request: FakeRequest) -> FakeResponse:
        parts = urlsplit(request.url)
        org_url = f"{parts.scheme}://{parts.netloc}"
        redactor = Redactor(org_url, key=self._key, placeholder_org_url=self.cassette.org_url)
        live = redactor.request(request.method, request.url, request.headers, request.body)
        try:
            interaction = self.matcher.find(live)
        except NoMatchError as exc:
            with self._lock:
                self.misses.append(str(exc))
            return fault_response(FakeFault(501, MISMATCH_CODE, str(exc)))
        recorded = interaction.response
        placeholder = self.cassette.org_url.rstrip("/")
        payload = recorded.body_bytes().replace(placeholder.encode(), org_url.encode())
        headers = {k: v.replace(placeholder, org_url) for k, v in recorded.headers.items()}
        if recorded.body is not None and not isinstance(recorded.body, str):
            headers.setdefault("content-type", "application/json; odata.metadata=minimal")
        return FakeResponse(recorded.status, headers, payload)

    @property
    def unused(self) -> int:
        """How many recorded interactions have not been replayed."""
        return len(self.matcher.unused)
