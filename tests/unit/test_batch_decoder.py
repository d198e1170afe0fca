"""The $batch decoder trusts an answer only as a whole; HTTPError keeps a bounded, scrubbed body."""

from __future__ import annotations

import json
import pickle

import pytest

from d365leads.batch import BatchRequest, decode_batch_response
from d365leads.batch.decoder import describe_indexes
from d365leads.errors import (
    BadRequestError,
    BatchError,
    MalformedBatchResponseError,
    NotFoundError,
    error_from_response,
)

BASE = "https://org.crm.dynamics.com/api/data/v9.2/"
LEAD = "6f1c2c1e-0000-0000-0000-000000000001"
TYPE = "multipart/mixed; boundary=batchresponse_x"
NOT_FOUND = json.dumps(
    {"error": {"code": "0x80040217", "message": "lead With Id = x Does Not Exist"}}
)


def _part(status_line: str, body: str = "", headers: str = "") -> str:
    return (
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"HTTP/1.1 {status_line}\r\n{headers}\r\n{body}"
    )


def _answer(parts: list[str], *, close: bool = True) -> bytes:
    text = "".join(f"--batchresponse_x\r\n{p}\r\n" for p in parts)
    return (text + ("--batchresponse_x--\r\n" if close else "")).encode()


def _patches(n: int, *, continue_on_error: bool = True) -> BatchRequest:
    batch = BatchRequest(base_url=BASE, continue_on_error=continue_on_error)
    for i in range(n):
        batch.patch(f"leads({LEAD})", {"subject": f"s{i}"})
    return batch


OK = _part("204 No Content")


def test_a_missing_closing_delimiter_is_refused_with_what_did_arrive() -> None:
    batch = _patches(4)
    # Cut inside the third part: its status line arrived, its headers did not.
    cut = b"--batchresponse_x\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204"
    body = _answer([OK, OK], close=False) + cut
    with pytest.raises(MalformedBatchResponseError) as caught:
        decode_batch_response(batch.operations, TYPE, body, continue_on_error=True)
    error = caught.value
    assert "cut short (no closing delimiter)" in str(error)
    assert "operations #2-#3 have no answer" in str(error)
    assert error.unanswered == [2, 3]
    assert [r.executed for r in error.results] == [True, True, False, False]
    assert [r.status for r in error.results] == [204, 204, 0, 0]
    assert isinstance(error, BatchError)


def test_a_cut_after_the_last_whole_part_still_loses_nothing_silently() -> None:
    batch = _patches(2)
    with pytest.raises(MalformedBatchResponseError) as caught:
        decode_batch_response(batch.operations, TYPE, _answer([OK, OK], close=False))
    # Without the closing delimiter the last part might itself be cut: it counts as unknown.
    assert caught.value.unanswered == [1]
    # Cut inside the closing delimiter: every part is delimited, so every part is whole.
    cut_in_close = _answer([OK, OK], close=False) + b"--batchresponse_x-"
    with pytest.raises(MalformedBatchResponseError, match="every operation has its answer"):
        decode_batch_response(batch.operations, TYPE, cut_in_close, continue_on_error=True)
    with pytest.raises(MalformedBatchResponseError, match=r"operations #0-#1 have no answer"):
        decode_batch_response(batch.operations, TYPE, b"", continue_on_error=True)


def test_fewer_parts_than_sent_name_the_operations_without_an_answer() -> None:
    batch = _patches(5)
    body = _answer([OK, _part("400 Bad Request", NOT_FOUND), OK])
    with pytest.raises(MalformedBatchResponseError) as caught:
        decode_batch_response(batch.operations, TYPE, body, continue_on_error=True)
    error = caught.value
    assert "3 parts for the 5 operations and changesets sent" in str(error)
    assert "operations #3-#4 have no answer" in str(error)
    assert error.unanswered == [3, 4]
    assert [r.status for r in error.results] == [204, 400, 204, 0, 0]
    # Without continue-on-error a short answer is only explained by a failure at its end.
    stop = _patches(3, continue_on_error=False)
    with pytest.raises(MalformedBatchResponseError, match="#2 have no answer"):
        decode_batch_response(stop.operations, TYPE, _answer([OK, OK]))


def test_more_parts_than_sent_match_nothing() -> None:
    batch = _patches(2)
    with pytest.raises(MalformedBatchResponseError) as caught:
        decode_batch_response(batch.operations, TYPE, _answer([OK, OK, OK]), continue_on_error=True)
    assert "3 parts for the 2 operations" in str(caught.value)
    assert caught.value.results == [] and caught.value.unanswered == []


def test_a_changeset_answer_cut_inside_leaves_its_operations_unanswered() -> None:
    batch = BatchRequest(base_url=BASE)
    batch.get("WhoAmI")
    with batch.changeset() as cs:
        cs.post("accounts", {"name": "A"})
        cs.post("contacts", {"lastname": "B"})
    inner = (
        "Content-Type: multipart/mixed; boundary=changesetresponse_c\r\n\r\n"
        "--changesetresponse_c\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n"
        "HTTP/1.1 204 No Content\r\n\r\n\r\n"
        "--changesetresponse_c\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n"
        "HTTP/1.1 20"
    )
    body = _answer([_part("200 OK", '{"UserId": "u"}'), inner])
    with pytest.raises(MalformedBatchResponseError) as caught:
        decode_batch_response(batch.operations, TYPE, body, continue_on_error=True)
    assert caught.value.unanswered == [1, 2]
    assert [r.executed for r in caught.value.results] == [True, False, False]


def test_a_stopped_answer_with_the_parts_so_far_gives_each_operation_its_result() -> None:
    batch = _patches(4, continue_on_error=False)
    body = _answer([OK, _part("404 Not Found", NOT_FOUND, "Content-Type: application/json\r\n")])
    result = decode_batch_response(batch.operations, TYPE, body, status=400)
    assert [(r.executed, r.status) for r in result] == [
        (True, 204),
        (True, 404),
        (False, 0),
        (False, 0),
    ]
    assert isinstance(result[1].error, NotFoundError)
    assert result.status == 400


def test_a_stopped_answer_holding_only_the_failing_part_says_it_cannot_tell_which() -> None:
    body = _answer([_part("404 Not Found", NOT_FOUND, "Content-Type: application/json\r\n")])
    batch = _patches(3, continue_on_error=False)
    with pytest.raises(BatchError) as caught:
        decode_batch_response(batch.operations, TYPE, body, status=400)
    assert not isinstance(caught.value, MalformedBatchResponseError)
    assert "stopped at a failing operation (0x80040217: lead With Id" in str(caught.value)
    assert "which of the operations it was, and which ran before it, is unknown" in str(
        caught.value
    )
    assert caught.value.results == []
    # With a single operation there is nothing to tell apart.
    [only] = decode_batch_response(_patches(1).operations, TYPE, body, status=400)
    assert only.status == 404 and isinstance(only.error, NotFoundError)


def test_describe_indexes() -> None:
    assert describe_indexes([0, 3, 4, 5, 9]) == "#0, #3-#5, #9"
    assert describe_indexes([7]) == "#7"
    assert describe_indexes([]) == ""


def test_http_error_keeps_a_bounded_scrubbed_body_out_of_its_text() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    body = (
        f"--batchresponse_x\r\nHTTP/1.1 400 Bad Request\r\n\r\nAuthorization: Bearer abc.def\r\n"
        f"echo {token}\r\n--batchresponse_x--\r\n"
    ).encode()
    error = error_from_response(
        400, {"Content-Type": TYPE}, body, method="POST", url=BASE + "$batch"
    )
    assert isinstance(error, BadRequestError)
    assert error.content_type == TYPE
    assert error.body.startswith(b"--batchresponse_x\r\n") and error.body.endswith(b"--\r\n")
    assert b"abc.def" not in error.body and token.encode() not in error.body
    assert b"Bearer ***" in error.body and not error.body_truncated
    # Not an OData error body: the message quotes it, scrubbed as well.
    assert "echo ***" in str(error) and "Bearer ***" in str(error)
    for text in (str(error), repr(error)):
        assert "abc.def" not in text and token not in text
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.body, copy.content_type, copy.body_truncated) == (
        error.body,
        error.content_type,
        False,
    )

    huge = b"\xff" + b"x" * (3 * 1024 * 1024)  # not UTF-8 at its start: kept as it was
    big = error_from_response(502, {"Content-Type": "text/html"}, huge)
    assert big.body_truncated and len(big.body) == 1024 * 1024
    assert big.body[:1] == b"\xff"
    assert error_from_response(404, {}, None).body == b""
