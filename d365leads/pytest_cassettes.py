"""pytest plugin: record a test's Dataverse traffic once, replay it offline in CI.

Options (pytest-recording's vocabulary):

``--record-mode=none``  (default) replay only; a missing cassette or an unmatched request fails
``--record-mode=once``  record when the cassette is missing, else replay
``--record-mode=new_episodes``  replay known requests, send and record new ones
``--record-mode=all``   always go to the org and re-record (``rewrite`` is the same: the
                        cassette is replaced by a fresh recording when the test passes)

Use the ``dataverse_cassette`` fixture and take the client from it::

    @pytest.mark.dataverse_cassette  # optional: path="...", allow_repeats=True
    def test_qualify(dataverse_cassette):
        client = dataverse_cassette.client()
        ...

Recording talks to the org named by ``D365_URL`` with the credentials of
:meth:`d365leads.DataverseClient.from_env` (``D365_*``/``AZURE_*`` variables). Cassettes go to
``<rootdir>/tests/cassettes/<test module>/<test name>.json``, or under the folder named by the
ini option ``d365leads_cassette_dir`` (relative to the rootdir), or to the marker's ``path``
(relative to the test module's folder). A cassette is saved only when the test passed, and
only after redaction (see :mod:`d365leads.cassette.redact`); pseudonyms are keyed by
``D365LEADS_CASSETTE_KEY``, which must be the same when recording and replaying.

While replaying, ``dataverse_cassette.player`` is the
:class:`~d365leads.fake.adapters.replay.CassettePlayer` (``.misses``, ``.unused``); an unmatched
request raises :class:`~d365leads.errors.NotSupportedError` naming the closest recorded interaction.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from d365leads.cassette import PLACEHOLDER_ORG_URL, Cassette, Redactor

if TYPE_CHECKING:
    from d365leads.client import DataverseClient
    from d365leads.fake.adapters.replay import CassettePlayer
    from d365leads.http.recording import RecordingTransport

__all__ = ["RECORD_MODES", "CassetteSession"]

RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")
_PASSED_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--record-mode`` and the cassette folder option."""
    group = parser.getgroup("d365leads", "d365leads cassettes")
    group.addoption(
        "--record-mode",
        action="store",
        default="none",
        choices=RECORD_MODES,
        help="Dataverse cassettes: none (replay only, default), once, new_episodes, all, rewrite",
    )
    parser.addini(
        "d365leads_cassette_dir", "folder for Dataverse cassettes (default tests/cassettes)"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker."""
    config.addinivalue_line(
        "markers",
        "dataverse_cassette(path=None, allow_repeats=False): record/replay Dataverse traffic",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test body passed, so a failing test never saves a cassette."""
    report = yield
    if report.when == "call":
        item.stash[_PASSED_KEY] = report.passed
    return report


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "test"


class CassetteSession:
    """What the ``dataverse_cassette`` fixture gives a test: the mode, the path and a client."""

    def __init__(self, path: Path, mode: str, *, allow_repeats: bool = False) -> None:
        self.path = path
        self.requested_mode = mode
        self.allow_repeats = allow_repeats
        exists = path.exists()
        if mode == "none" and not exists:
            pytest.fail(
                f"no cassette at {path}; record it once against an org with "
                "'pytest --record-mode=once' (D365_URL and credentials set)",
                pytrace=False,
            )
        if mode == "once":
            mode = "replay" if exists else "record"
        elif mode == "none":
            mode = "replay"
        elif mode == "new_episodes" and not exists:
            mode = "record"
        elif mode == "rewrite":
            mode = "all"
        self.mode = mode
        self._stack = ExitStack()
        self._recorders: list[RecordingTransport] = []
        self._redactor: Redactor | None = None
        self._org_url = PLACEHOLDER_ORG_URL
        self.player: CassettePlayer | None = None
        """The cassette player while replaying (``.misses``, ``.unused``)."""
        self._clients: list[DataverseClient] = []
        self.slept: list[float] = []

    def __repr__(self) -> str:
        return f"CassetteSession({self.mode}, {self.path})"

    @property
    def recording(self) -> bool:
        """True when this test talks to a real org and writes the cassette."""
        return self.mode in ("record", "all", "new_episodes")

    def client(self, **kwargs: Any) -> DataverseClient:
        """A client for this mode: replaying from the cassette, or recording from the org."""
        from d365leads.auth import StaticTokenProvider
        from d365leads.client import DataverseClient
        from d365leads.config import Settings
        from d365leads.http.recording import EpisodesTransport, RecordingTransport
        from d365leads.http.transport import RequestsTransport

        if self.mode == "replay":
            from d365leads.fake import FakeDataverse
            from d365leads.fake.adapters.replay import CassettePlayer

            if self.player is None:
                cassette = Cassette.load(self.path)
                fake = FakeDataverse(cassette.org_url or PLACEHOLDER_ORG_URL)
                self.player = CassettePlayer(cassette, allow_repeats=self.allow_repeats)
                fake.replay = self.player
                self._stack.enter_context(fake.mock())
                self._org_url = fake.org_url
            kwargs.setdefault("sleep", self.slept.append)
            client = DataverseClient(
                self._org_url, token_provider=StaticTokenProvider("replay-token"), **kwargs
            )
        else:
            settings = Settings.from_env()
            if self._redactor is None:  # one redactor: identity GUIDs map alike in all clients
                self._redactor = Redactor(settings.url)
            inner = RequestsTransport(
                pool_size=settings.pool_size, keep_affinity=settings.keep_affinity
            )
            recorder: RecordingTransport
            if self.mode == "new_episodes" and not self._recorders:
                existing = Cassette.load(self.path)
                recorder = EpisodesTransport(inner, settings.url, existing, redactor=self._redactor)
            else:
                recorder = RecordingTransport(inner, settings.url, redactor=self._redactor)
            self._recorders.append(recorder)
            client = DataverseClient.from_settings(settings, transport=recorder, **kwargs)
        self._clients.append(client)
        return client

    def finish(self, passed: bool) -> None:
        """Close clients; save the recording when the test passed."""
        for client in self._clients:
            client.close()
        self._stack.close()
        if passed and self._recorders:
            interactions = [i for r in self._recorders for i in r.cassette().interactions]
            first = self._recorders[0].cassette()
            first.interactions = interactions
            first.save(self.path)


def _default_path(request: pytest.FixtureRequest) -> Path:
    configured = request.config.getini("d365leads_cassette_dir")
    root = Path(str(request.config.rootpath))
    base = root / str(configured) if configured else root / "tests" / "cassettes"
    module = Path(str(request.node.path)).stem
    return base / _safe(module) / f"{_safe(request.node.name)}.json"


@pytest.fixture
def dataverse_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteSession]:
    """Record or replay this test's Dataverse traffic (see the module docstring)."""
    marker = request.node.get_closest_marker("dataverse_cassette")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        options.setdefault("path", marker.args[0])
    if options.get("path"):
        path = Path(str(options["path"]))
        if not path.is_absolute():  # relative to the test module's folder
            path = Path(str(request.node.path)).parent / path
    else:
        path = _default_path(request)
    mode = str(request.config.getoption("--record-mode"))
    session = CassetteSession(path, mode, allow_repeats=bool(options.get("allow_repeats")))
    yield session
    session.finish(bool(request.node.stash.get(_PASSED_KEY, False)))
