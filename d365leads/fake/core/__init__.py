"""The fake's foundation: options, clocks, faults, value conventions and the operation meter.

Imports only the standard library; every other layer of the fake may import it.
"""

from __future__ import annotations

__all__: list[str] = []
