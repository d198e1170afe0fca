"""The Sales system views (``savedquery`` rows) the fake seeds: the lead views of
``lead_views.json`` and the account, contact and opportunity views of ``sales_views.json``.

Each view is a dict with ``savedqueryid`` (a fixed GUID, so tests and seeds can name it),
``name``, ``fetchxml``, ``querytype`` (0: a main grid view), ``isdefault`` and
``returnedtypecode`` (the table's logical name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["LEAD_VIEWS_FILE", "SALES_VIEWS_FILE", "load_lead_views", "load_system_views"]

LEAD_VIEWS_FILE = Path(__file__).with_name("lead_views.json")
SALES_VIEWS_FILE = Path(__file__).with_name("sales_views.json")


def load_lead_views(path: Path = LEAD_VIEWS_FILE) -> list[dict[str, Any]]:
    """The views in ``path`` (default: the product's lead views), as fresh dicts."""
    data = json.loads(path.read_text(encoding="utf-8"))
    views = data.get("views") if isinstance(data, dict) else None
    if not isinstance(views, list) or not all(isinstance(view, dict) for view in views):
        raise ValueError(f"{path}: expected {{'views': [{{...}}, ...]}}")
    return [dict(view) for view in views]


def load_system_views() -> list[dict[str, Any]]:
    """Every system view the fake seeds: the lead views, then those of account, contact and
    opportunity."""
    return load_lead_views() + load_lead_views(SALES_VIEWS_FILE)
