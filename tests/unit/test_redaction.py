"""Secret redaction helpers."""

from __future__ import annotations

import logging
import pickle

import pytest

from d365leads.redaction import (
    RedactingFilter,
    Secret,
    redact_headers,
    redact_text,
    redact_url,
)

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2NvbnRvc28ifQ.c2lnbmF0dXJl"


def test_secret_never_shows_itself() -> None:
    s = Secret("hunter2-value")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.reveal() == "hunter2-value"
    assert s == Secret("hunter2-value") and s != Secret("other")
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_redact_headers() -> None:
    cleaned = redact_headers({"Authorization": "Bearer abc", "cookie": "a=b", "Accept": "x"})
    assert cleaned == {"Authorization": "***", "cookie": "***", "Accept": "x"}


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        (f"token was {JWT} ok", JWT),
        ("client_secret=very-secret&scope=x", "very-secret"),
        ('{"access_token": "at-value", "x": 1}', "at-value"),
        ("refresh_token='rt-value'", "rt-value"),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEabc\n-----END PRIVATE KEY-----",
            "MIIEabc",
        ),
    ],
)
def test_redact_text(text: str, leak: str) -> None:
    cleaned = redact_text(text)
    assert leak not in cleaned
    assert "***" in cleaned


def test_redact_text_with_known_secrets_and_url() -> None:
    assert redact_text("the value plain-words here", ["plain-words"]) == "the value *** here"
    assert "abc" not in redact_url("https://h/x?code=abc&$top=1")
    assert redact_url("https://h/x?$top=1") == "https://h/x?$top=1"


def test_redacting_filter(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.redaction")
    filt = RedactingFilter()
    filt.add_secret("registered-secret")
    log.addFilter(filt)
    try:
        with caplog.at_level(logging.DEBUG, logger="tests.redaction"):
            log.debug("sending %s with %s", "Bearer xyz123", "registered-secret")
    finally:
        log.removeFilter(filt)
    assert "xyz123" not in caplog.text
    assert "registered-secret" not in caplog.text
    assert "Bearer ***" in caplog.text
    assert "registered" not in repr(filt)
