"""The fake answers each documented request as the docs show (status, headers, body shape).

Each exchange runs on a fresh, seeded fake, once in-process (``fake.mock()``) and once over the
local server (``fake.serve()``), sent with plain ``requests``. An exchange whose file names a
``known_gap`` is a strict xfail: it must fail today, and the run turns red when the feature lands
until the ``known_gap`` line is removed.
"""

from __future__ import annotations

import pytest

from ._exchanges import Exchange, load_exchanges, params, run_in_process, run_over_server

EXCHANGES = load_exchanges()


@pytest.mark.parametrize("exchange", params(EXCHANGES))
def test_in_process(exchange: Exchange) -> None:
    problems = run_in_process(exchange)
    assert not problems, "\n".join([exchange.data["section"], exchange.source, *problems])


@pytest.mark.parametrize("exchange", params(EXCHANGES))
def test_over_server(exchange: Exchange) -> None:
    problems = run_over_server(exchange)
    assert not problems, "\n".join([exchange.data["section"], exchange.source, *problems])
