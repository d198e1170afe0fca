"""The fake's FetchXML engine: a second, independent implementation of FetchXML queries.

It imports only the standard library, and nothing of the client or of the rest of the fake:
the org it queries is anything that implements :class:`FetchOrg`. The subset it evaluates is
listed in ``SUPPORTED.md`` next to this file; everything else raises
:class:`FetchXmlUnsupported` (answered 501) naming the element.
"""

from __future__ import annotations

from .engine import FetchResult, ResultColumn, evaluate, run
from .errors import FetchXmlError, FetchXmlUnsupported
from .nodes import Fetch
from .org import COLUMN_TYPES, FetchOrg
from .parser import OPERATORS, parse
from .views import LEAD_VIEWS_FILE, SALES_VIEWS_FILE, load_lead_views, load_system_views

__all__ = [
    "COLUMN_TYPES",
    "LEAD_VIEWS_FILE",
    "OPERATORS",
    "SALES_VIEWS_FILE",
    "Fetch",
    "FetchOrg",
    "FetchResult",
    "FetchXmlError",
    "FetchXmlUnsupported",
    "ResultColumn",
    "evaluate",
    "load_lead_views",
    "load_system_views",
    "parse",
    "run",
]
