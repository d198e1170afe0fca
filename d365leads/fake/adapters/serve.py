"""The blocking entry point that serves a fake until interrupted.

:func:`run_server` is shared by ``python -m d365leads.fake``, the CLI's ``d365leads fake serve``
and cassette replay: it builds a :class:`~d365leads.fake.facade.FakeDataverse` (or takes a
handler), starts a :class:`~d365leads.fake.adapters.server.FakeServer` and prints its URL.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO, Any

from ..core.options import FakeOptions
from ..facade import FakeDataverse
from ..wire.messages import Handler
from .login_paths import with_login
from .replay import CassettePlayer
from .server import FakeServer

__all__ = ["run_server"]


def run_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    options: FakeOptions | None = None,
    seed_file: str | Path | None = None,
    demo_data: bool = False,
    handler_factory: Callable[[], Handler] | None = None,
    out: IO[str] | None = None,
    stop: threading.Event | None = None,
    accepted_tokens: tuple[str, ...] = (),
    replay: str | Path | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); print the org URL first, flushed.

    Without ``handler_factory`` the server runs a new ``FakeDataverse`` with ``options``,
    seeded from ``seed_file`` and/or demo data.  With it (cassette replay) the factory's
    handler is served as is and the seeding arguments must be left out.
    ``accepted_tokens`` are the bearer tokens accepted under ``options.strict_auth``.
    ``replay`` names a cassette the fake answers from instead of its store (auth, faults and
    service protection still apply); it cannot be combined with seeding.
    """
    stream = out if out is not None else sys.stdout
    if handler_factory is not None:
        if seed_file is not None or demo_data:
            raise ValueError("seed_file and demo_data cannot be combined with handler_factory")
        handler: Handler = handler_factory()
    else:
        fake = FakeDataverse(options=options or FakeOptions())
        fake.accepted_tokens.update(accepted_tokens)
        if replay is not None:
            if seed_file is not None or demo_data:
                raise ValueError("a replayed cassette cannot be combined with seed data")
            try:
                fake.replay = CassettePlayer(replay)
            except FileNotFoundError:
                raise ValueError(f"no cassette at {replay}") from None
        if seed_file is not None:
            fake.seed_file(seed_file)
        if demo_data:
            fake.seed_demo_data()
        fake.latency.real_time = True
        handler = with_login(fake)
    stop_event = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_event.set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    server = FakeServer(handler, host=host, port=port)
    try:
        stream.write(server.url + "\n")
        stream.flush()
        while not stop_event.wait(0.2):
            pass
    finally:
        server.close()
        for signum, old in previous.items():
            signal.signal(signum, old)
