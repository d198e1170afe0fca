"""``client.batch()`` when the ``$batch`` answer is cut short, miscounted, or a stopped batch's 400.

The fake runs every operation; a hook between the fake and the wire then damages its answer, so
the client's real transport, retry and decoder see what a broken proxy would hand them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import responses

from d365leads import (
    BadRequestError,
    BatchError,
    DataverseClient,
    MalformedBatchResponseError,
    NotFoundError,
)
from d365leads.fake import FakeRequest, FakeResponse, Handler

from .conftest import API

MISSING = "00000000-0000-0000-0000-0000000000ff"


def _seed(fake: Any, n: int) -> list[str]:
    return list(fake.seed("lead", [{"lastname": f"Lee{i}", "subject": "old"} for i in range(n)]))


def _on_batch(change: Callable[[bytes, bytes], bytes]) -> Any:
    """A fake hook rewriting the body of each ``$batch`` answer: ``change(body, delimiter)``."""

    def hook(request: FakeRequest, handler: Handler) -> FakeResponse:
        response = handler(request)
        if request.path != "$batch":
            return response
        boundary = response.headers["Content-Type"].split("boundary=")[1].strip('"')
        body = change(response.body, b"--" + boundary.encode())
        return FakeResponse(response.status, dict(response.headers), body)

    return hook


def _patch_subjects(client: DataverseClient, ids: list[str], subject: str) -> Any:
    batch = client.batch()
    for lead_id in ids:
        batch.patch(f"leads({lead_id})", {"subject": subject})
    return batch


def test_an_answer_cut_inside_its_last_part_raises_with_the_parts_that_arrived(
    fake_dataverse: Any,
) -> None:
    ids = _seed(fake_dataverse, 3)
    # The connection dropped in the middle of the third part's status line.
    fake_dataverse.hooks.append(_on_batch(lambda body, _: body[: body.rindex(b"HTTP/1.1") + 10]))
    client = fake_dataverse.client()
    with pytest.raises(MalformedBatchResponseError) as caught:
        _patch_subjects(client, ids, "new").execute()
    error = caught.value
    assert "cut short (no closing delimiter): operations #2 have no answer" in str(error)
    assert error.unanswered == [2]
    assert [(r.executed, r.status) for r in error.results] == [(True, 204), (True, 204), (False, 0)]
    # "No answer" is not "not done": the fake did apply the third PATCH.
    assert [fake_dataverse.get("lead", i)["subject"] for i in ids] == ["new", "new", "new"]


def test_an_answer_with_fewer_parts_names_the_operations_without_one(fake_dataverse: Any) -> None:
    ids = _seed(fake_dataverse, 3)

    def drop_last_part(body: bytes, delimiter: bytes) -> bytes:
        chunks = body.split(delimiter)  # preamble, parts..., closing "--"
        return delimiter.join(chunks[:-2] + chunks[-1:])

    fake_dataverse.hooks.append(_on_batch(drop_last_part))
    with pytest.raises(MalformedBatchResponseError) as caught:
        _patch_subjects(fake_dataverse.client(), ids, "new").execute()
    assert "2 parts for the 3 operations and changesets sent: operations #2 have no answer" in str(
        caught.value
    )
    assert caught.value.unanswered == [2]
    assert [r.ok for r in caught.value.results] == [True, True, False]


def test_an_answer_with_more_parts_than_sent_matches_none(fake_dataverse: Any) -> None:
    ids = _seed(fake_dataverse, 2)

    def repeat_first_part(body: bytes, delimiter: bytes) -> bytes:
        chunks = body.split(delimiter)
        return delimiter.join([chunks[0], chunks[1], *chunks[1:]])

    fake_dataverse.hooks.append(_on_batch(repeat_first_part))
    with pytest.raises(MalformedBatchResponseError, match="3 parts for the 2 operations") as caught:
        _patch_subjects(fake_dataverse.client(), ids, "new").execute()
    assert caught.value.results == []


def test_a_stopped_batch_keeps_its_answer_on_the_http_error(fake_dataverse: Any) -> None:
    ids = _seed(fake_dataverse, 2)
    client = fake_dataverse.client()
    batch = client.batch(continue_on_error=False)
    batch.patch(f"leads({ids[0]})", {"subject": "first"})
    batch.patch(f"leads({MISSING})", {"subject": "x"})
    batch.patch(f"leads({ids[1]})", {"subject": "after"})
    with pytest.raises(BatchError) as caught:
        batch.execute()
    # The fake answers with the failing part only: which operation it was is unknown.
    assert "which of the operations it was, and which ran before it, is unknown" in str(
        caught.value
    )
    assert caught.value.results == []
    cause = caught.value.__cause__
    assert isinstance(cause, BadRequestError)
    assert (cause.content_type or "").startswith("multipart/mixed")
    assert b"HTTP/1.1 404" in cause.body and b"0x80040217" in cause.body
    assert fake_dataverse.get("lead", ids[0])["subject"] == "first"

    # A batch of one operation: its answer can only be that operation's.
    single = client.batch(continue_on_error=False)
    single.patch(f"leads({MISSING})", {"subject": "x"})
    with pytest.raises(BatchError, match=r"operation #0 \(PATCH\) failed") as caught:
        single.execute()
    [result] = caught.value.results
    assert result.status == 404 and isinstance(result.error, NotFoundError)


def _answer_part(status_line: str, body: str = "") -> str:
    return (
        "--batchresponse_s\r\nContent-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n\r\n"
        f"HTTP/1.1 {status_line}\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
    )


def test_a_stopped_answer_with_the_parts_so_far_yields_per_operation_results(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    # A server that answers a stopped batch with every part up to the failing one.
    error = json.dumps({"error": {"code": "0x80040217", "message": "lead Does Not Exist"}})
    body = _answer_part("204 No Content") + _answer_part("404 Not Found", error)
    rsps.add(
        responses.POST,
        API + "$batch",
        body=(body + "--batchresponse_s--\r\n").encode(),
        status=400,
        content_type="multipart/mixed; boundary=batchresponse_s",
    )
    batch = client.batch(continue_on_error=False)
    for _ in range(3):
        batch.patch(f"leads({MISSING})", {"subject": "x"})
    with pytest.raises(BatchError) as caught:
        batch.execute()
    assert str(caught.value) == (
        "the batch stopped at a failing operation (0x80040217: lead Does Not Exist): "
        "operation #1 (PATCH) failed, the 1 before it were applied and the 1 after it were "
        "not executed"
    )
    assert [(r.executed, r.status) for r in caught.value.results] == [
        (True, 204),
        (True, 404),
        (False, 0),
    ]
    assert "odata.continue-on-error" not in (rsps.calls[0].request.headers.get("Prefer") or "")


def test_a_stopped_answer_longer_than_the_kept_body_says_so(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    padding = "x" * (1024 * 1024)
    body = _answer_part("204 No Content", padding) + _answer_part("400 Bad Request", "{}")
    rsps.add(
        responses.POST,
        API + "$batch",
        body=(body + "--batchresponse_s--\r\n").encode(),
        status=400,
        content_type="multipart/mixed; boundary=batchresponse_s",
    )
    batch = client.batch(continue_on_error=False)
    batch.patch(f"leads({MISSING})", {"subject": "x"})
    batch.patch(f"leads({MISSING})", {"subject": "y"})
    with pytest.raises(MalformedBatchResponseError) as caught:
        batch.execute()
    assert "longer than the 1 MiB an HTTPError keeps" in str(caught.value)
    assert caught.value.unanswered == [0, 1]
    cause = caught.value.__cause__
    assert isinstance(cause, BadRequestError) and cause.body_truncated
