"""sync push with a cut-short ``$batch`` answer: answered rows settle, the rest say so."""

from __future__ import annotations

from pathlib import Path

from d365leads.client import DataverseClient
from d365leads.fake import FakeDataverse, FakeRequest, FakeResponse, Handler
from d365leads.sync.push import push_csv


def _cut_inside_last_part(request: FakeRequest, handler: Handler) -> FakeResponse:
    response = handler(request)
    if request.path != "$batch":
        return response
    body = response.body[: response.body.rindex(b"HTTP/1.1") + 10]
    return FakeResponse(response.status, dict(response.headers), body)


def test_rows_without_an_answer_are_reported_as_unknown_not_lost(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = tmp_path / "leads.csv"
    source.write_text(
        "emailaddress1,lastname\nana@example.com,Lee\nbo@example.com,Bo\ncy@example.com,Cy\n",
        encoding="utf-8",
    )
    fake.hooks.append(_cut_inside_last_part)
    result = push_csv(client, source)
    assert [r.action for r in result.rows] == ["create", "create", "failed"]
    assert all(r.id for r in result.rows[:2])
    error = result.rows[2].error or ""
    assert "no answer for this row" in error and "push the file again" in error
    # The third create did happen: a second push matches it by e-mail and updates it.
    assert sorted(r["emailaddress1"] for r in fake.rows("lead")) == [
        "ana@example.com",
        "bo@example.com",
        "cy@example.com",
    ]
    fake.hooks.clear()
    again = push_csv(client, source)
    assert [r.action for r in again.rows] == ["update", "update", "update"]
    assert len(fake.rows("lead")) == 3
