"""The adapters: how requests reach the fake and how tests get it.

Transports below the facade (``responses_mock``, ``server``, ``replay``) speak only the wire and
the pipeline's handler signature; entry points above it (``serve``, ``pytest_plugin``) build a
:class:`~d365leads.fake.facade.FakeDataverse`.  Nothing under ``fake/`` imports the client.
"""

from __future__ import annotations

__all__: list[str] = []
