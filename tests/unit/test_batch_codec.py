"""Unit tests of the client-side $batch encoder and response decoder."""

from __future__ import annotations

import json

import pytest

from d365leads.batch import BatchRequest, decode_batch_response, encode_batch
from d365leads.errors import (
    BatchError,
    InvalidInputError,
    InvalidStateTransitionError,
    NotFoundError,
)

BASE = "https://org.crm.dynamics.com/api/data/v9.2/"
LEAD = "6f1c2c1e-0000-0000-0000-000000000001"


def _response_part(status_line: str, headers: dict[str, str], body: str = "") -> str:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"HTTP/1.1 {status_line}\r\n{head}\r\n{body}"
    )


def _multipart(boundary: str, parts: list[str]) -> bytes:
    text = "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--\r\n"
    return text.encode()


def test_encode_independent_operations_and_changeset() -> None:
    batch = BatchRequest(base_url=BASE)
    batch.patch(f"leads({LEAD})", {"statecode": 0, "statuscode": 1})
    batch.get("leads", params={"$select": "fullname", "$filter": "statecode eq 0"})
    with batch.changeset() as cs:
        ref = cs.post("accounts", {"name": "Contoso"})
        cs.post("contacts", {"lastname": "Lee", "parentcustomerid_account@odata.bind": ref})
    encoded = batch.encode(boundary="batch_T")
    text = encoded.body.decode()
    assert encoded.content_type == 'multipart/mixed; boundary="batch_T"'
    assert text.startswith("--batch_T\r\n")
    assert text.endswith("--batch_T--\r\n")
    assert f"PATCH {BASE}leads({LEAD}) HTTP/1.1\r\n" in text
    assert "If-Match: *\r\n" in text
    assert '{"statecode":0,"statuscode":1}' in text
    assert f"GET {BASE}leads?$select=fullname&$filter=statecode%20eq%200 HTTP/1.1" in text
    assert ref == "$1"
    assert "Content-ID: 1\r\n" in text and "Content-ID: 2\r\n" in text
    assert '"parentcustomerid_account@odata.bind":"$1"' in text
    assert text.count('Content-Type: multipart/mixed; boundary="changeset_') == 1
    assert "Content-Type: application/json; type=entry" in text


def test_limits_and_bad_input_are_refused() -> None:
    batch = BatchRequest(base_url=BASE, max_operations=2)
    batch.delete(f"leads({LEAD})")
    batch.delete(f"leads({LEAD})")
    with pytest.raises(InvalidInputError, match="at most 2"):
        batch.delete(f"leads({LEAD})")
    with pytest.raises(InvalidInputError, match="between 1 and 1000"):
        BatchRequest(base_url=BASE, max_operations=1001)
    other = BatchRequest(base_url=BASE)
    with pytest.raises(InvalidInputError, match="GET is not allowed inside a changeset"):
        other.changeset().add("GET", "leads")
    with pytest.raises(InvalidInputError, match="inside the changeset"):
        other.patch("$1", {"x": 1})
    with pytest.raises(InvalidInputError, match="at least one"):
        encode_batch([])
    with pytest.raises(InvalidInputError, match="line break"):
        other.post("leads", {}, headers={"X-Evil": "a\r\nInjected: 1"})
        other.encode()


def test_decode_continue_on_error_results_in_order() -> None:
    batch = BatchRequest(base_url=BASE)
    batch.patch(f"leads({LEAD})", {"statecode": 0, "statuscode": 1})
    batch.patch(f"leads({LEAD})", {"statecode": 2, "statuscode": 1})
    batch.post(f"leads({LEAD})/Microsoft.Dynamics.CRM.QualifyLead", {"CreateAccount": False})
    error = json.dumps({"error": {"code": "0x80048408", "message": "1 is not a valid status"}})
    body = _multipart(
        "batchresponse_x",
        [
            _response_part("204 No Content", {"OData-Version": "4.0"}),
            _response_part("400 Bad Request", {"Content-Type": "application/json"}, error),
            _response_part("200 OK", {"Content-Type": "application/json"}, '{"value": []}'),
        ],
    )
    result = decode_batch_response(
        batch.operations, 'multipart/mixed; boundary="batchresponse_x"', body
    )
    assert [r.status for r in result] == [204, 400, 200]
    assert result[0].ok and not result[1].ok and result[2].ok
    assert isinstance(result[1].error, InvalidStateTransitionError)
    assert result[1].error.code == "0x80048408"
    assert result[2].json() == {"value": []}
    assert len(result.failed) == 1
    with pytest.raises(BatchError) as caught:
        result.raise_for_errors()
    assert len(caught.value.results) == 3


def test_decode_stop_on_first_error_marks_rest_not_executed() -> None:
    batch = BatchRequest(base_url=BASE, continue_on_error=False)
    for _ in range(3):
        batch.patch(f"leads({LEAD})", {"statecode": 0})
    error = json.dumps({"error": {"code": "0x80040217", "message": "Entity 'lead' missing"}})
    body = _multipart(
        "b",
        [
            _response_part("204 No Content", {}),
            _response_part("404 Not Found", {"Content-Type": "application/json"}, error),
        ],
    )
    result = decode_batch_response(batch.operations, "multipart/mixed;boundary=b", body)
    assert [r.executed for r in result] == [True, True, False]
    assert isinstance(result[1].error, NotFoundError)
    assert result.not_executed[0].index == 2
    assert result[2].error is None and not result[2].ok


def test_decode_changeset_success_and_rollback() -> None:
    batch = BatchRequest(base_url=BASE)
    with batch.changeset() as cs:
        cs.post("accounts", {"name": "A"})
        cs.post("contacts", {"lastname": "B"})
    batch.get("WhoAmI")
    new_id = "11111111-2222-3333-4444-555555555555"
    inner_ok = (
        "Content-Type: multipart/mixed; boundary=changesetresponse_c\r\n\r\n"
        + "".join(
            f"--changesetresponse_c\r\nContent-Type: application/http\r\n"
            f"Content-ID: {n}\r\n\r\nHTTP/1.1 204 No Content\r\n"
            f"OData-EntityId: {BASE}accounts({new_id})\r\n\r\n\r\n"
            for n in (1, 2)
        )
        + "--changesetresponse_c--"
    )
    body = _multipart("r", [inner_ok, _response_part("200 OK", {}, '{"UserId": "u"}')])
    result = decode_batch_response(batch.operations, "multipart/mixed; boundary=r", body)
    assert [r.status for r in result] == [204, 204, 200]
    assert result[0].entity_id == new_id
    assert result[0].content_id == "1"
    assert result[2].json() == {"UserId": "u"}

    error = json.dumps({"error": {"code": "0x80044331", "message": "validation"}})
    inner_fail = (
        "Content-Type: multipart/mixed; boundary=changesetresponse_d\r\n\r\n"
        "--changesetresponse_d\r\nContent-Type: application/http\r\n\r\n"
        f"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{error}\r\n"
        "--changesetresponse_d--"
    )
    body = _multipart("r", [inner_fail, _response_part("200 OK", {}, "{}")])
    result = decode_batch_response(batch.operations, "multipart/mixed; boundary=r", body)
    assert [r.status for r in result] == [400, 400, 200]
    assert result[0].error is not None and result[0].error.code == "0x80044331"


def test_decode_rejects_garbage() -> None:
    batch = BatchRequest(base_url=BASE)
    batch.get("WhoAmI")
    with pytest.raises(BatchError, match="no multipart boundary"):
        decode_batch_response(batch.operations, "application/json", b"{}")
    with pytest.raises(BatchError, match="malformed status line"):
        decode_batch_response(
            batch.operations,
            "multipart/mixed; boundary=b",
            b"--b\r\nContent-Type: application/http\r\n\r\nnot http\r\n\r\n--b--",
        )


def test_round_trip_through_lf_only_response() -> None:
    batch = BatchRequest(base_url=BASE)
    batch.patch(f"leads({LEAD})", {"statecode": 0})
    body = (
        b"--b\nContent-Type: application/http\n\n"
        b"HTTP/1.1 204 No Content\nOData-Version: 4.0\n\n\n--b--\n"
    )
    result = decode_batch_response(batch.operations, "multipart/mixed; boundary=b", body)
    assert result[0].status == 204
    assert result[0].header("odata-version") == "4.0"
