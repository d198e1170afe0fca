"""The error tree and error_from_response."""

from __future__ import annotations

import json
import pickle

import pytest

import d365leads.errors as errors
from d365leads.errors import (
    AuthError,
    ConnectError,
    DuplicateRecordError,
    HTTPError,
    InvalidStateTransitionError,
    NotFoundError,
    PreconditionFailedError,
    ServerError,
    ThrottledError,
    TransportError,
    UnauthorizedError,
    error_from_response,
)


def body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (404, "0x80040217", NotFoundError),
        (412, "0x80060882", PreconditionFailedError),
        (412, "0x80040237", DuplicateRecordError),
        (500, "0x80040333", DuplicateRecordError),
        (400, "0x80048408", InvalidStateTransitionError),
        (429, "0x80072322", ThrottledError),
        (401, "", UnauthorizedError),
        (503, "", ServerError),
        (418, "", HTTPError),
    ],
)
def test_error_from_response_picks_the_most_specific_class(
    status: int, code: str, cls: type[HTTPError]
) -> None:
    err = error_from_response(
        status,
        {"x-ms-service-request-id": "req-1", "Retry-After": "3"},
        body(code, "it failed"),
        method="GET",
        url="https://o/api/data/v9.2/leads",
    )
    assert type(err) is cls
    assert (err.status, err.code, err.message, err.request_id, err.retry_after) == (
        status,
        code,
        "it failed",
        "req-1",
        3.0,
    )
    assert "it failed" in str(err) and "GET https://o/api/data/v9.2/leads" in str(err)
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is cls and clone.retry_after == 3.0 and clone.code == code


def test_error_without_json_body() -> None:
    err = error_from_response(502, {}, b"<html>Bad gateway</html>")
    assert isinstance(err, ServerError) and "Bad gateway" in err.message
    assert error_from_response(500, {}, b"").message == "HTTP 500 with no error body"


def test_tree_shape() -> None:
    assert issubclass(UnauthorizedError, AuthError)
    assert issubclass(ConnectError, TransportError)
    assert errors.__all__ == sorted(errors.__all__)
    for name in errors.__all__:
        assert hasattr(errors, name)
        if name[0].isupper():
            assert name in (errors.__doc__ or ""), f"{name} missing from the docstring tree"


def test_inactive_record_error_words_its_override_per_front_end() -> None:
    from d365leads.errors import InactiveRecordError

    exc = InactiveRecordError("lead 1 is inactive: reactivate it, or pass {override} to edit it")
    assert str(exc) == "lead 1 is inactive: reactivate it, or pass force=True to edit it"
    assert (
        exc.message_for("--force")
        == "lead 1 is inactive: reactivate it, or pass --force to edit it"
    )
    assert exc.names_override
    assert not InactiveRecordError("lead is closed").names_override
