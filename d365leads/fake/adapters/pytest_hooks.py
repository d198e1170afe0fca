"""The hook the fake's pytest plugin declares for the client side to implement.

The fixtures offer ``.client(**kwargs)``, but the fake imports nothing of the client: the
fixture asks this hook for a client instead, and :mod:`d365leads.testing` (registered as a
pytest plugin too) answers it with a ``DataverseClient``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["pytest_fake_dataverse_client"]

hookspec = pluggy.HookspecMarker("pytest")


@hookspec(firstresult=True)
def pytest_fake_dataverse_client(
    url: str, sleep: Callable[[float], None], kwargs: dict[str, Any]
) -> Any:
    """Return a client bound to the fake at ``url`` (``sleep``: the no-wait sleep that records
    delays; ``kwargs``: the test's overrides), or ``None`` to leave it to another plugin.

    :param url: the org URL of the fake (in-process mock or server)
    :param sleep: records every delay the client asks for instead of waiting
    :param kwargs: keyword arguments the test passed to ``.client()``
    """
