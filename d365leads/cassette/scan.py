"""Scan cassettes (or any text files) for secrets and personal data that must not be committed.

Findings never repeat the secret: each shows the file, the JSON location or line, the rule, and a
masked excerpt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d365leads.cassette.redact import (
    BEARER_RE,
    EMAIL_RE,
    JWT_RE,
    PHONE_RE,
    REDACTED,
    _is_phone,
    encoded_emails,
    is_synthetic_email,
    is_synthetic_phone,
)

__all__ = ["Finding", "scan_paths", "scan_text"]

_SECRET_KEY_RE = re.compile(
    r"(access_token|refresh_token|id_token|client_secret|client_assertion|password|"
    r"api[_-]?key|secret)$",
    re.IGNORECASE,
)
_FORBIDDEN_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization"}
_SECRETISH_VALUE_RE = re.compile(r"^[A-Za-z0-9_~.+/=-]{24,}$")
_ORG_HOST_RE = re.compile(r"\b[A-Za-z0-9-]+\.crm\d*\.dynamics\.com\b", re.IGNORECASE)
_PLACEHOLDER_HOST = "fake-org.crm.dynamics.com"
_QUERY_SECRET_RE = re.compile(r"(?i)\b(sig|client_secret|access_token|code|password)=([^&\s\"]+)")


@dataclass(frozen=True)
class Finding:
    """One problem found by the scanner."""

    path: str
    where: str
    rule: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.rule}: {self.excerpt}"


def _mask(value: str) -> str:
    value = value.strip()
    if len(value) <= 8:
        return value[:2] + "***"
    return value[:4] + "***" + value[-2:]


def _scan_string(value: str, where: str, path: str, key: str = "") -> Iterator[Finding]:
    bare = key.split("@", 1)[0]
    if _SECRET_KEY_RE.search(bare) and value and value != REDACTED:
        yield Finding(path, where, f"secret-looking value under {bare!r}", _mask(value))
    for m in JWT_RE.finditer(value):
        yield Finding(path, where, "JSON Web Token", _mask(m.group(0)))
    for m in BEARER_RE.finditer(value):
        yield Finding(path, where, "bearer token", _mask(m.group(0)))
    for m in _QUERY_SECRET_RE.finditer(value):
        if m.group(2) != REDACTED:
            yield Finding(path, where, f"secret in URL parameter {m.group(1)}", _mask(m.group(2)))
    for m in _ORG_HOST_RE.finditer(value):
        if m.group(0).lower() != _PLACEHOLDER_HOST:
            yield Finding(path, where, "real org host name", _mask(m.group(0)))
    for m in EMAIL_RE.finditer(value):
        if not is_synthetic_email(m.group(0)):
            yield Finding(path, where, "unredacted e-mail address", _mask(m.group(0)))
    for email in encoded_emails(value):
        yield Finding(path, where, "unredacted e-mail address (percent-encoded)", _mask(email))
    for m in PHONE_RE.finditer(value):
        if _is_phone(m.group(0)) and not is_synthetic_phone(m.group(0)):
            yield Finding(path, where, "unredacted phone number", _mask(m.group(0)))


def _walk(value: Any, where: str, path: str, key: str = "") -> Iterator[Finding]:
    if isinstance(value, dict):
        for k, v in value.items():
            lk = str(k).lower()
            if where.endswith(".headers") and lk in _FORBIDDEN_HEADERS:
                yield Finding(path, f"{where}.{k}", f"{k} header present", _mask(str(v)))
                continue
            yield from _walk(v, f"{where}.{k}", path, str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{where}[{i}]", path, key)
    elif isinstance(value, str):
        # Multipart bodies carry JSON per line; scan them as JSON so key rules apply.
        for line in value.splitlines() if "\n" in value else [value]:
            stripped = line.strip()
            if stripped.startswith("{"):
                try:
                    yield from _walk(json.loads(stripped), where, path, key)
                    continue
                except ValueError:
                    pass
            yield from _scan_string(line, where, path, key)


def scan_text(text: str, path: str = "<text>") -> list[Finding]:
    """Scan one document: JSON is walked with key-aware rules, other text line by line."""
    try:
        data = json.loads(text)
    except ValueError:
        findings: list[Finding] = []
        for number, line in enumerate(text.splitlines(), start=1):
            findings.extend(_scan_string(line, f"line {number}", path))
        return findings
    return list(_walk(data, "$", path))


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*") if q.is_file() and q.suffix == ".json")
        else:
            yield p


def scan_paths(paths: Iterable[str | Path]) -> tuple[list[Finding], int]:
    """Scan files and folders (``*.json`` in folders). Returns findings and files scanned."""
    findings: list[Finding] = []
    count = 0
    for file in _files(paths):
        if not file.exists():
            raise FileNotFoundError(f"no such file or folder: {file}")
        count += 1
        findings.extend(scan_text(file.read_text(encoding="utf-8", errors="replace"), str(file)))
    return findings, count
