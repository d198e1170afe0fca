"""Request bodies read as ODataLib's JSON reader reads them (``wire/json_reader.py``): its
compatibility rules are accepted, garbage is still a 400, and ``json_reader="strict"`` keeps
standard JSON only."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions
from d365leads.fake.wire.json_reader import JsonReaderError, read_json

AUTH = {"Authorization": "Bearer t", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{'name':'Acme'}", {"name": "Acme"}),
        ("{name: 'Acme', $x_1: 2}", {"name": "Acme", "$x_1": 2}),
        ('{\'a\': \'it\\\'s\', "b": "say \\"hi\\""}', {"a": "it's", "b": 'say "hi"'}),
        ("{'q': \"it's\", 'd': '\"'}", {"q": "it's", "d": '"'}),
        ("[.5, -.25, 1., 01, 2e3, -7]", [0.5, -0.25, 1.0, 1, 2000.0, -7]),
        ("{'e': '\\ud83d\\ude00\\u00e9\\/'}", {"e": "\U0001f600\u00e9/"}),
        (' \t\r\n{"a": [true, false, null, {}, []]} ', {"a": [True, False, None, {}, []]}),
    ],
)
def test_accepts_what_odatalib_accepts(text: str, expected: Any) -> None:
    assert read_json(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": 1,}', "unexpected comma"),
        ("[1, 2,]", "unexpected comma"),
        ('{"a": 1 "b": 2}', "missing comma"),
        ('{"a" 1}', "missing colon"),
        ('{"a": 1', "unexpected end of input"),
        ("{'a': 'open", "unterminated string"),
        ("{'a': 'x\\q'}", "unrecognized escape"),
        ("{'a': '\\u12'}", "unrecognized escape"),
        ('{"a": True}', "unrecognized token"),
        ('{"a": nul}', "unexpected token"),
        ('{"a": +1}', "unrecognized token"),
        ('{"a": 1-2}', "invalid number"),
        ('{"a": NaN}', "unrecognized token"),
        ('{@odata.type: "x"}', "invalid property name"),
        ("{,}", "invalid property name"),
        ('{"a": 1} {"b": 2}', "more than one top-level value"),
        ("\u00a0{}", "unrecognized token"),
    ],
)
def test_refuses_garbage_with_a_specific_reason(text: str, problem: str) -> None:
    with pytest.raises(JsonReaderError, match=problem):
        read_json(text)


def test_strict_json_reads_the_same() -> None:
    text = json.dumps({"a": [1, 2.5, "x\u00e9\n", None, True], "b": {"c": -0.001}})
    assert read_json(text) == json.loads(text)


def _create(fake: FakeDataverse, body: bytes) -> requests.Response:
    with fake.mock():
        return requests.post(fake.base_url + "accounts", data=body, headers=AUTH, timeout=5)


def test_single_quoted_body_creates_by_default_and_strict_refuses_it() -> None:
    body = b"{'name': 'Single Quoted', creditonhold: true}"
    lenient = FakeDataverse()
    assert _create(lenient, body).status_code == 204
    (row,) = lenient.rows("account")
    assert (row["name"], row["creditonhold"]) == ("Single Quoted", True)
    strict = FakeDataverse(options=FakeOptions(json_reader="strict"))
    refused = _create(strict, body)
    assert refused.status_code == 400
    assert "not valid JSON" in refused.json()["error"]["message"]
    assert strict.rows("account") == []


@pytest.mark.parametrize("reader", ["odatalib", "strict"])
def test_malformed_body_is_still_400_and_nothing_is_written(reader: str) -> None:
    fake = FakeDataverse(options=FakeOptions(json_reader=reader))  # type: ignore[arg-type]
    refused = _create(fake, b"{'name': 'Trailing comma',}")
    assert refused.status_code == 400
    assert "not valid JSON" in refused.json()["error"]["message"]
    assert fake.rows("account") == []


def test_the_error_names_the_problem() -> None:
    refused = _create(FakeDataverse(), b"{'name': 'A' 'x': 1}")
    message = refused.json()["error"]["message"]
    assert "missing comma between properties at offset 13" in message


def test_batch_operation_with_single_quotes_resolves_content_id_references() -> None:
    fake = FakeDataverse()
    boundary, changeset = "batch_x", "changeset_y"
    parts = [
        ("1", "POST", "accounts", "{'name': 'Parent'}"),
        (
            "2",
            "POST",
            "contacts",
            "{lastname: 'Child', 'parentcustomerid_account@odata.bind': '$1'}",
        ),
    ]
    lines = [f"--{boundary}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
    for content_id, method, path, body in parts:
        lines += [f"--{changeset}", "Content-Type: application/http",
                  "Content-Transfer-Encoding: binary", f"Content-ID: {content_id}", "",
                  f"{method} {fake.base_url}{path} HTTP/1.1",
                  "Content-Type: application/json", "", body]  # fmt: skip
    lines += [f"--{changeset}--", f"--{boundary}--", ""]
    with fake.mock():
        answer = requests.post(
            fake.base_url + "$batch",
            data="\r\n".join(lines).encode(),
            headers={**AUTH, "Content-Type": f"multipart/mixed; boundary={boundary}"},
            timeout=5,
        )
    assert answer.status_code == 200, answer.text
    (account,) = fake.rows("account")
    (contact,) = fake.rows("contact")
    assert contact["parentcustomerid"] == account["accountid"]
