"""``$batch`` in the fake: the multipart codec, then the executor through both adapters."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from d365leads.fake import FakeDataverse, FakeOptions, ManualClock
from d365leads.fake.wire.batch_codec import (
    BatchFormatError,
    BatchOperation,
    ChangeSet,
    PartResponse,
    encode_batch_response,
    iter_operations,
    parse_batch,
    parse_boundary,
)

CHANGESET_BODY = (
    "--batch_A\r\n"
    'Content-Type: multipart/mixed; boundary="changeset_B"\r\n'
    "\r\n"
    "--changeset_B\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 1\r\n"
    "\r\n"
    "POST /api/data/v9.2/accounts HTTP/1.1\r\n"
    "Content-Type: application/json; type=entry\r\n"
    "\r\n"
    '{"name": "Contoso"}\r\n'
    "--changeset_B\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 2\r\n"
    "\r\n"
    "POST /api/data/v9.2/contacts HTTP/1.1\r\n"
    "Content-Type: application/json; type=entry\r\n"
    "\r\n"
    '{"lastname": "Lee", "parentcustomerid_account@odata.bind": "$1"}\r\n'
    "--changeset_B--\r\n"
    "--batch_A\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "GET https://fake-org.crm.dynamics.com/api/data/v9.2/accounts?$select=name HTTP/1.1\r\n"
    "Accept: application/json\r\n"
    "\r\n"
    "\r\n"
    "--batch_A--\r\n"
)


# --- codec ---------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_parse_changeset_and_plain_operation(newline: str) -> None:
    body = CHANGESET_BODY.replace("\r\n", newline).encode()
    items = parse_batch(body, 'multipart/mixed; boundary="batch_A"')
    assert len(items) == 2
    changeset, read = items
    assert isinstance(changeset, ChangeSet)
    first, second = changeset.operations
    assert (first.method, first.url, first.content_id) == ("POST", "/api/data/v9.2/accounts", "1")
    assert first.body == b'{"name": "Contoso"}'
    assert first.header("content-type") == "application/json; type=entry"
    assert second.content_id == "2"
    assert b'"$1"' in second.body
    assert isinstance(read, BatchOperation)
    assert read.method == "GET"
    assert read.url.startswith("https://fake-org.crm.dynamics.com/")
    assert read.body == b""


def test_boundary_parameter_quoted_or_bare() -> None:
    assert parse_boundary('multipart/mixed; boundary="batch_x"') == "batch_x"
    assert parse_boundary("multipart/mixed;boundary=batch_y") == "batch_y"


@pytest.mark.parametrize(
    ("content_type", "body", "fragment"),
    [
        (None, b"", "has no Content-Type"),
        ("application/json", b"{}", "must be 'multipart/mixed'"),
        ("multipart/mixed", b"", "has no boundary"),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\nContent-Type: application/http\r\n\r\n"
            b"GET /api/data/v9.2/leads HTTP/1.1\r\n\r\n",
            "not terminated by '--b--'",
        ),
        ("multipart/mixed; boundary=b", b"nothing here", "no part delimited by '--b'"),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--",
            "must have 'Content-Type: application/http'",
        ),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\nContent-Type: application/http\r\n\r\nDELETE\r\n\r\n--b--",
            "must start with a request line",
        ),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
            b"--c\r\nContent-Type: application/http\r\n\r\nGET /api/data/v9.2/leads HTTP/1.1\r\n"
            b"\r\n\r\n--c--\r\n--b--",
            "GET requests are not allowed inside a changeset",
        ),
    ],
)
def test_malformed_batches_are_refused_with_a_clear_message(
    content_type: str | None, body: bytes, fragment: str
) -> None:
    with pytest.raises(BatchFormatError) as caught:
        parse_batch(body, content_type)
    assert caught.value.status == 400
    assert fragment in caught.value.message


def test_encode_response_uses_dataverse_boundaries_and_status_lines() -> None:
    ids = iter(["11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"])
    content_type, body = encode_batch_response(
        [
            [
                PartResponse(
                    204, {"OData-EntityId": "https://x/api/data/v9.2/accounts(1)"}, b"", "1"
                )
            ],
            PartResponse(200, {"Content-Type": "application/json"}, b'{"value": []}'),
        ],
        lambda: next(ids),
    )
    assert content_type == (
        "multipart/mixed; boundary=batchresponse_11111111-1111-1111-1111-111111111111"
    )
    text = body.decode()
    assert text.startswith("--batchresponse_11111111-1111-1111-1111-111111111111\r\n")
    assert (
        "Content-Type: multipart/mixed; boundary="
        "changesetresponse_22222222-2222-2222-2222-222222222222\r\n" in text
    )
    assert "Content-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\n" in text
    assert "Content-Transfer-Encoding: binary" in text
    assert 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"value": []}' in text
    assert text.endswith("--batchresponse_11111111-1111-1111-1111-111111111111--\r\n")
    # Our own decoder reads what we encode (the response grammar is the request grammar).
    reparsed = parse_batch(
        text.replace("HTTP/1.1 204 No Content", "PATCH /x HTTP/1.1")
        .replace("HTTP/1.1 200 OK", "GET /y HTTP/1.1")
        .encode(),
        content_type,
    )
    assert [type(item).__name__ for item in reparsed] == ["ChangeSet", "BatchOperation"]


# --- executor, through both adapters ---------------------------------------------------------


AUTH = {"Authorization": "Bearer batch-tests"}


@dataclass
class Wire:
    fake: FakeDataverse
    base_url: str
    session: requests.Session

    def batch(
        self, body: str, boundary: str = "batch_T", prefer: str | None = None
    ) -> requests.Response:
        headers = {**AUTH, "Content-Type": f'multipart/mixed; boundary="{boundary}"'}
        if prefer:
            headers["Prefer"] = prefer
        return self.session.post(self.base_url + "$batch", data=body.encode(), headers=headers)


@pytest.fixture(params=["in-process", "server"])
def wire(request: pytest.FixtureRequest) -> Iterator[Wire]:
    options = FakeOptions(max_requests=None, max_exec_ms=None, op_cost_ms=10)
    fake = FakeDataverse(options=options, clock=ManualClock(), sleep=lambda s: None)
    with requests.Session() as session:
        if request.param == "in-process":
            with fake.mock():
                yield Wire(fake, fake.base_url, session)
        else:
            with fake.serve() as server:
                yield Wire(fake, server.base_url, session)
    assert fake.errors == []


def op(
    method: str,
    url: str,
    body: object = None,
    content_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None:
        lines.append("Content-Type: application/json; type=entry")
    lines += ["", json.dumps(body) if body is not None else ""]
    return "\r\n".join(lines)


def batch_body(*items: str | list[str], boundary: str = "batch_T") -> str:
    out = []
    for index, item in enumerate(items):
        if isinstance(item, list):
            cs = f"changeset_{index}"
            inner = "".join(f"--{cs}\r\n{part}\r\n" for part in item) + f"--{cs}--"
            out.append(
                f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={cs}\r\n\r\n{inner}\r\n"
            )
        else:
            out.append(f"--{boundary}\r\n{item}\r\n")
    return "".join(out) + f"--{boundary}--\r\n"


def parts(response: requests.Response) -> list[tuple[int, str | None, str]]:
    """(status, Content-ID, body) of every response part, in order (nested parts flattened)."""
    found = []
    for chunk in re.split(
        r"\r\n--(?:batch|changeset)response_[0-9a-f-]+(?:--)?", "\r\n" + response.text
    ):
        match = re.search(r"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n(.*?)\r\n\r\n(.*)", chunk, re.S)
        if match is None:
            continue
        content_id = re.search(r"Content-ID: (\S+)", chunk.split("HTTP/1.1")[0])
        found.append(
            (
                int(match.group(1)),
                content_id.group(1) if content_id else None,
                match.group(3).strip(),
            )
        )
    return found


API = "/api/data/v9.2/"


def test_changeset_with_content_id_references_in_url_and_body(wire: Wire) -> None:
    response = wire.batch(
        batch_body(
            [
                op("POST", API + "accounts", {"name": "Contoso"}, "1"),
                op(
                    "POST",
                    API + "contacts",
                    {"lastname": "Lee", "parentcustomerid_account@odata.bind": "$1"},
                    "2",
                ),
                op("PATCH", "$1", {"telephone1": "555-0100"}, "3"),
            ],
            op("GET", wire.base_url + "contacts?$select=lastname,_parentcustomerid_value"),
        )
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    got = parts(response)
    assert [(s, c) for s, c, _ in got] == [(204, "1"), (204, "2"), (204, "3"), (200, None)]
    (account,) = wire.fake.rows("account")
    (contact,) = wire.fake.rows("contact")
    assert account["telephone1"] == "555-0100"
    assert contact["parentcustomerid"] == account["accountid"]
    assert "changesetresponse_" in response.text
    assert f"Location: {wire.base_url}accounts({account['accountid']})" in response.text
    assert f"OData-EntityId: {wire.base_url}contacts({contact['contactid']})" in response.text
    assert json.loads(got[3][2])["value"][0]["lastname"] == "Lee"


def test_failing_changeset_rolls_back_and_stops_the_batch(wire: Wire) -> None:
    body = batch_body(
        [
            op("POST", API + "accounts", {"name": "Rolled back"}, "1"),
            op("POST", API + "contacts", {"lastname": "x", "nosuchcolumn": 1}, "2"),
        ],
        op("POST", API + "accounts", {"name": "never runs"}),
    )
    response = wire.batch(body)
    assert response.status_code == 400
    got = parts(response)
    assert len(got) == 1
    status, content_id, error = got[0]
    assert (status, content_id) == (400, "2")
    assert "nosuchcolumn" in json.loads(error)["error"]["message"]
    assert wire.fake.rows("account") == [] and wire.fake.rows("contact") == []


def test_without_continue_on_error_earlier_operations_stay_committed(wire: Wire) -> None:
    response = wire.batch(
        batch_body(
            op("POST", API + "accounts", {"name": "First"}),
            op("POST", API + "accounts", {"bogus": True}),
            op("POST", API + "accounts", {"name": "Third"}),
        )
    )
    assert response.status_code == 400
    assert [s for s, _, _ in parts(response)] == [400]
    assert [r["name"] for r in wire.fake.rows("account")] == ["First"]


def test_continue_on_error_reports_every_operation(wire: Wire) -> None:
    response = wire.batch(
        batch_body(
            op("POST", API + "accounts", {"name": "First"}),
            op("POST", API + "accounts", {"bogus": True}),
            [
                op("POST", API + "accounts", {"name": "in changeset"}, "1"),
                op("PATCH", "$1", {"nosuch": 1}, "2"),
            ],
            op("POST", API + "accounts", {"name": "Third"}),
        ),
        prefer="odata.continue-on-error",
    )
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "odata.continue-on-error"
    assert [s for s, _, _ in parts(response)] == [204, 400, 400, 204]
    assert sorted(r["name"] for r in wire.fake.rows("account")) == ["First", "Third"]


def test_undeclared_content_id_reference(wire: Wire) -> None:
    response = wire.batch(
        batch_body(
            [
                op("POST", API + "accounts", {"name": "A"}, "1"),
                op(
                    "POST",
                    API + "contacts",
                    {"lastname": "B", "parentcustomerid_account@odata.bind": "$7"},
                    "2",
                ),
            ]
        )
    )
    assert response.status_code == 400
    ((status, _, error),) = parts(response)
    assert status == 400
    assert json.loads(error)["error"]["message"] == (
        "Content-ID Reference: '$7' does not exist in the batch context."
    )
    assert wire.fake.rows("account") == []


def test_get_inside_a_changeset_is_refused(wire: Wire) -> None:
    response = wire.batch(batch_body([op("GET", API + "accounts")]))
    assert response.status_code == 400
    assert "GET requests are not allowed inside a changeset" in response.json()["error"]["message"]


def test_operation_limit(wire: Wire) -> None:
    read = op("GET", API + "WhoAmI")
    assert wire.batch(batch_body(*[read] * 1000)).status_code == 200
    refused = wire.batch(batch_body(*[read] * 1001))
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "The number of requests in the batch (1001) exceeds the limit of 1000. "
        "Split the operations into several $batch requests."
    )


def test_batch_counts_once_as_a_request_but_each_operation_costs_time() -> None:
    options = FakeOptions(max_requests=100, max_exec_ms=10_000, op_cost_ms=25)
    fake = FakeDataverse(options=options, clock=ManualClock(), sleep=lambda s: None)
    with fake.mock(), requests.Session() as session:
        body = batch_body(*[op("POST", API + "accounts", {"name": f"A{i}"}) for i in range(8)])
        response = session.post(
            fake.base_url + "$batch",
            data=body.encode(),
            headers={**AUTH, "Content-Type": 'multipart/mixed; boundary="batch_T"'},
        )
    assert response.status_code == 200
    assert response.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "99"
    assert response.headers["x-ms-ratelimit-time-remaining-xrm-requests"] == "9.80"
    assert len(fake.rows("account")) == 8


def test_nested_batch_and_no_operations_are_refused(wire: Wire) -> None:
    nested = wire.batch(batch_body(op("POST", API + "$batch", {"x": 1})))
    assert nested.status_code == 400
    assert "cannot contain another $batch" in parts(nested)[0][2]
    empty = wire.batch("--batch_T--\r\n")
    assert empty.status_code == 400
    assert empty.json()["error"]["message"] == "The $batch request contains no operation."


def test_per_operation_changeset_failure_shape(wire: Wire) -> None:
    wire.fake.batch.changeset_failure = "per_operation"
    response = wire.batch(
        batch_body(
            [
                op("POST", API + "accounts", {"name": "A"}, "1"),
                op("POST", API + "accounts", {"nope": 1}, "2"),
            ]
        )
    )
    assert response.status_code == 400
    assert [(s, c) for s, c, _ in parts(response)] == [(204, "1"), (400, "2")]
    assert wire.fake.rows("account") == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["POST", "PATCH", "DELETE", "GET"]),
            st.builds(
                lambda name, key: f"/api/data/v9.2/{name}" + (f"({key})" if key else ""),
                st.sampled_from(["leads", "accounts", "contacts", "WhoAmI"]),
                st.one_of(st.none(), st.uuids().map(str)),
            ),
            st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=30), max_size=4),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["\r\n", "\n"]),
)
def test_codec_round_trips_any_operations(
    operations: list[tuple[str, str, dict[str, str]]], newline: str
) -> None:
    body = batch_body(*[op(m, u, b or None) for m, u, b in operations]).replace("\r\n", newline)
    items = parse_batch(body.encode(), "multipart/mixed; boundary=batch_T")
    assert [(i.method, i.url) for i in iter_operations(items)] == [(m, u) for m, u, _ in operations]
    assert [json.loads(i.body) if i.body else {} for i in iter_operations(items)] == [
        b for _, _, b in operations
    ]
