"""A plain ``requests`` script (no d365leads code on the client side) against the fake server.

It sends a ``$batch`` holding a changeset with a Content-ID reference, then reads a change-tracking
delta that contains an update and a deletion — what a user's own script would do against
Dataverse, byte for byte on a real socket.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import requests

from d365leads.testing import FakeServerFixture


def _part(method: str, url: str, content_id: int, body: dict[str, Any]) -> str:
    return (
        "Content-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: {content_id}\r\n"
        "\r\n"
        f"{method} {url} HTTP/1.1\r\n"
        "Content-Type: application/json; type=entry\r\n"
        "\r\n"
        f"{json.dumps(body)}\r\n"
    )


def client_script(org_url: str, token: str) -> dict[str, Any]:
    """What a user would write with ``requests`` only; returns what it observed."""
    base = org_url + "/api/data/v9.2/"
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
        }
    )
    batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    body = (
        f"--{batch}\r\n"
        f"Content-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        f"--{changeset}\r\n"
        + _part("POST", "/api/data/v9.2/accounts", 1, {"name": "Fabrikam"})
        + f"--{changeset}\r\n"
        + _part(
            "POST",
            base + "leads",
            2,
            {"subject": "Keep", "lastname": "Kim", "parentaccountid@odata.bind": "$1"},
        )
        + f"--{changeset}\r\n"
        + _part("POST", "/api/data/v9.2/leads", 3, {"subject": "Drop", "lastname": "Diaz"})
        + f"--{changeset}--\r\n"
        f"--{batch}--\r\n"
    )
    response = session.post(
        base + "$batch",
        data=body.encode("utf-8"),
        headers={"Content-Type": f"multipart/mixed; boundary={batch}"},
        timeout=10,
    )
    response.raise_for_status()
    statuses = [int(s) for s in re.findall(r"^HTTP/1\.1 (\d{3}) ", response.text, re.M)]
    entity_ids = re.findall(r"^OData-EntityId: (\S+)\r?$", response.text, re.M)
    lead_urls = [u for u in entity_ids if "/leads(" in u]

    first = session.get(
        base + "leads?$select=subject,_parentaccountid_value",
        headers={"Prefer": "odata.track-changes"},
        timeout=10,
    )
    first.raise_for_status()
    delta_link = first.json()["@odata.deltaLink"]

    session.patch(lead_urls[0], json={"subject": "Kept and edited"}, timeout=10).raise_for_status()
    session.delete(lead_urls[1], timeout=10).raise_for_status()
    delta = session.get(delta_link, timeout=10)
    delta.raise_for_status()
    session.close()
    return {
        "batch_status": response.status_code,
        "batch_content_type": response.headers["Content-Type"],
        "part_statuses": statuses,
        "lead_urls": lead_urls,
        "initial": first.json()["value"],
        "delta": delta.json(),
    }


def test_requests_only_batch_and_delta_against_the_server(
    fake_dataverse_server: FakeServerFixture,
) -> None:
    seen = client_script(fake_dataverse_server.url, "any-token")
    assert seen["batch_status"] == 200
    assert seen["batch_content_type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert seen["part_statuses"] == [204, 204, 204]
    (account,) = fake_dataverse_server.rows("account")
    initial = {row["subject"]: row for row in seen["initial"]}
    assert initial["Keep"]["_parentaccountid_value"] == account["accountid"]
    delta = seen["delta"]
    assert delta["@odata.context"].endswith("/$delta")
    kept_id = seen["lead_urls"][0].rsplit("(", 1)[1].rstrip(")")
    dropped_id = seen["lead_urls"][1].rsplit("(", 1)[1].rstrip(")")
    assert [(e.get("leadid"), e.get("subject")) for e in delta["value"][:1]] == [
        (kept_id, "Kept and edited")
    ]
    assert delta["value"][1:] == [
        {
            "@odata.context": f"{fake_dataverse_server.base_url}$metadata#leads/$deletedEntity",
            "id": dropped_id,
            "reason": "deleted",
        }
    ]
    assert "$deltatoken=" in delta["@odata.deltaLink"]
    assert [r["subject"] for r in fake_dataverse_server.rows("lead")] == ["Kept and edited"]
