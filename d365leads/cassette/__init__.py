"""Cassettes: record real Dataverse traffic once (redacted), replay it offline.

This package is stdlib-only so that both the client (which records) and the fake (which
replays) can use it without importing each other.
"""

from d365leads.cassette.match import Matcher, NoMatchError, match_key
from d365leads.cassette.model import (
    PLACEHOLDER_ORG_URL,
    Cassette,
    CassetteFormatError,
    Interaction,
    RecordedRequest,
    RecordedResponse,
)
from d365leads.cassette.redact import DEFAULT_PII_FIELDS, Redactor
from d365leads.cassette.scan import Finding, scan_paths, scan_text

__all__ = [
    "DEFAULT_PII_FIELDS",
    "PLACEHOLDER_ORG_URL",
    "Cassette",
    "CassetteFormatError",
    "Finding",
    "Interaction",
    "Matcher",
    "NoMatchError",
    "RecordedRequest",
    "RecordedResponse",
    "Redactor",
    "match_key",
    "scan_paths",
    "scan_text",
]
