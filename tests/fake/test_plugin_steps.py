"""Declared plug-in steps (``FakeOptions.plugin_steps``, seed ``"$plugins"``,
``fake.add_plugin_step``): the documented plug-in error, stages, conditions and rollback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions, SeedError

AUTH = {"Authorization": "Bearer t"}
ALL = {**AUTH, "Prefer": 'odata.include-annotations="*"'}
DETAILS = "@Microsoft.PowerApps.CDS."
ACCOUNT = "00000000-0000-0000-0000-0000000000a1"


def _send(fake: FakeDataverse, method: str, path: str, body: Any = None, **headers: str) -> Any:
    with fake.mock():
        return requests.request(
            method, fake.base_url + path, json=body, headers={**AUTH, **headers}, timeout=5
        )


def test_pre_create_step_answers_the_documented_error_and_writes_nothing() -> None:
    fake = FakeDataverse(
        options=FakeOptions(
            plugin_steps=(
                {
                    "event": "Create",
                    "table": "accounts",
                    "stage": "pre",
                    "status": "Canceled",
                    "code": 12345,
                    "message": "Example Error Message.",
                    "plugin": "My.NS.Check",
                    "trace": ["Entering Check."],
                },
            )
        )
    )
    got = _send(fake, "POST", "accounts", {"name": "A"}, Prefer='odata.include-annotations="*"')
    assert got.status_code == 400
    error = got.json()["error"]
    assert (error["code"], error["message"]) == ("0x80040265", "Example Error Message.")
    assert error[f"{DETAILS}ErrorDetails.OperationStatus"] == "1"
    assert error[f"{DETAILS}ErrorDetails.SubErrorCode"] == "12345"
    assert error[f"{DETAILS}HelpLink"].endswith("CrmException%3a80040265&client=platform")
    assert error[f"{DETAILS}InnerError.Message"] == "Example Error Message."
    trace = error[f"{DETAILS}TraceText"]
    assert "[My.NS: My.NS.Check ]" in trace and "My.NS.Check : Create of account]" in trace
    assert "Entering Check." in trace
    assert fake.rows("account") == []
    plain = _send(fake, "POST", "accounts", {"name": "A"})
    assert set(plain.json()["error"]) == {"code", "message"}  # no annotations unless asked
    only = _send(
        fake,
        "POST",
        "accounts",
        {"name": "A"},
        Prefer='odata.include-annotations="Microsoft.PowerApps.CDS.ErrorDetails*"',
    )
    assert sorted(only.json()["error"]) == [
        f"{DETAILS}ErrorDetails.OperationStatus",
        f"{DETAILS}ErrorDetails.SubErrorCode",
        "code",
        "message",
    ]


def test_post_update_step_rolls_the_update_back_and_filters_on_attributes() -> None:
    fake = FakeDataverse()
    fake.seed("account", [{"accountid": ACCOUNT, "name": "Acme", "creditonhold": False}])
    fake.add_plugin_step(
        event="Update",
        table="account",
        stage="post",
        message="Credit hold needs approval.",
        attributes=["creditonhold"],
        when={"creditonhold": True},
    )
    before = fake.get("account", ACCOUNT)
    refused = _send(fake, "PATCH", f"accounts({ACCOUNT})", {"creditonhold": True})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Credit hold needs approval."
    assert fake.get("account", ACCOUNT) == before  # version and values as before
    assert _send(fake, "PATCH", f"accounts({ACCOUNT})", {"name": "Renamed"}).status_code == 204
    assert _send(fake, "PATCH", f"accounts({ACCOUNT})", {"creditonhold": False}).status_code == 204
    row = fake.get("account", ACCOUNT)
    assert row is not None and row["name"] == "Renamed"


def test_post_create_and_pre_delete_steps_declared_in_a_seed_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "$plugins": [
                    {
                        "event": "Create",
                        "table": "contact",
                        "stage": "post",
                        "message": "No contacts today.",
                        "status": 0,
                        "code": 7,
                    },
                    {
                        "event": "Delete",
                        "table": "account",
                        "stage": "pre",
                        "message": "Keep Acme.",
                        "when": {"accountid": ACCOUNT.upper()},
                    },
                ],
                "account": [{"accountid": ACCOUNT, "name": "Acme"}, {"name": "Other"}],
            }
        )
    )
    fake = FakeDataverse()
    fake.seed_file(seed)
    created = _send(fake, "POST", "contacts", {"lastname": "Lee"}, **ALL)
    assert created.status_code == 400
    assert created.json()["error"][f"{DETAILS}ErrorDetails.SubErrorCode"] == "7"
    assert fake.rows("contact") == []  # the post-operation failure rolled the insert back
    assert _send(fake, "DELETE", f"accounts({ACCOUNT})").status_code == 400
    (other,) = [r for r in fake.rows("account") if r["name"] == "Other"]
    assert _send(fake, "DELETE", f"accounts({other['accountid']})").status_code == 204
    assert [r["name"] for r in fake.rows("account")] == ["Acme"]


def test_step_fires_inside_an_action_and_the_action_changes_nothing() -> None:
    fake = FakeDataverse()
    fake.add_plugin_step(event="Create", table="opportunity", stage="pre", message="Not now.")
    (lead_id,) = fake.seed("lead", [{"subject": "Deal", "lastname": "Lee", "companyname": "Co"}])
    got = _send(
        fake,
        "POST",
        f"leads({lead_id})/Microsoft.Dynamics.CRM.QualifyLead",
        {"CreateAccount": True, "CreateContact": True, "CreateOpportunity": True, "Status": 3},
    )
    assert got.status_code == 400 and got.json()["error"]["code"] == "0x80040265"
    assert fake.rows("account") == [] and fake.rows("opportunity") == []
    lead = fake.get("lead", lead_id)
    assert lead is not None and lead["statecode"] == 0


def test_hooks_in_code_keep_working_beside_declared_steps() -> None:
    fake = FakeDataverse()
    fake.add_plugin_step(event="Create", table="account", stage="pre", message="Declared.")
    seen: list[str] = []

    def hook(request: Any, call_next: Any) -> Any:
        seen.append(request.method)
        return call_next(request)

    fake.hooks.append(hook)
    got = _send(fake, "POST", "accounts", {"name": "A"})
    assert (seen, got.json()["error"]["message"]) == (["POST"], "Declared.")


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"event": "Merge", "table": "account", "stage": "pre", "message": "x"}, "event"),
        ({"event": "Create", "table": "account", "stage": "during", "message": "x"}, "stage"),
        ({"event": "Create", "table": "account", "stage": "pre", "message": ""}, "message"),
        (
            {
                "event": "Create",
                "table": "account",
                "stage": "pre",
                "message": "x",
                "status": "Sometimes",
            },
            "OperationStatus",
        ),
        (
            {
                "event": "Create",
                "table": "account",
                "stage": "pre",
                "message": "x",
                "attributes": ["name"],
            },
            "Update only",
        ),
        (
            {
                "event": "Create",
                "table": "account",
                "stage": "pre",
                "message": "x",
                "colour": "red",
            },
            "unknown plug-in step field",
        ),
        ({"event": "Create", "table": "widget", "stage": "pre", "message": "x"}, "no such table"),
        (
            {
                "event": "Create",
                "table": "account",
                "stage": "pre",
                "message": "x",
                "when": {"nosuch": 1},
            },
            "no column 'nosuch'",
        ),
    ],
)
def test_bad_declarations_are_refused_by_name(step: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        FakeDataverse(options=FakeOptions(plugin_steps=(step,)))  # type: ignore[arg-type]


def test_a_bad_seed_keeps_nothing(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    good = {"event": "Create", "table": "account", "stage": "pre", "message": "x"}
    seed.write_text(json.dumps({"$plugins": [good, {"event": "Create"}], "account": []}))
    fake = FakeDataverse()
    with pytest.raises(SeedError, match=r"\$plugins\[1\]"):
        fake.seed_file(seed)
    assert fake.options.plugin_steps == ()
    assert _send(fake, "POST", "accounts", {"name": "A"}).status_code == 204


def _seed_request(fake: FakeDataverse, body: Any) -> requests.Response:
    with fake.mock():
        return requests.post(fake.org_url + "/_fake/seed", json=body, timeout=5)


def test_the_seed_endpoint_takes_plugins_as_a_seed_file_does() -> None:
    fake = FakeDataverse()
    step = {"event": "Create", "table": "contact", "stage": "post", "message": "No.", "code": 7}
    seeded = _seed_request(fake, {"$plugins": [step], "account": [{"name": "Acme"}]})
    assert seeded.status_code == 200, seeded.text
    (account,) = seeded.json()["account"]
    assert fake.get("account", account) is not None
    created = _send(fake, "POST", "contacts", {"lastname": "Lee"}, **ALL)
    assert created.status_code == 400
    assert created.json()["error"][f"{DETAILS}ErrorDetails.SubErrorCode"] == "7"
    assert fake.rows("contact") == []


@pytest.mark.parametrize(
    "plugins",
    [
        [
            {"event": "Create", "table": "account", "stage": "pre", "message": "x"},
            {"event": "Create"},
        ],
        {"event": "Create"},
    ],
)
def test_a_bad_plugins_list_is_refused_by_the_seed_endpoint_as_by_a_seed_file(
    tmp_path: Path, plugins: Any
) -> None:
    body = {"$plugins": plugins, "account": [{"name": "Kept out"}]}
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(body))
    with pytest.raises(SeedError) as from_file:
        FakeDataverse().seed_file(seed)
    fake = FakeDataverse()
    refused = _seed_request(fake, body)
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert message.startswith("POST /_fake/seed: $plugins")
    assert message.removeprefix("POST /_fake/seed") == str(from_file.value).removeprefix(str(seed))
    assert fake.options.plugin_steps == () and fake.rows("account") == []
    assert _send(fake, "POST", "accounts", {"name": "A"}).status_code == 204


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("MSCRM.BypassCustomPluginExecution", "true"),
        ("MSCRM.BypassBusinessLogicExecution", "CustomSync,CustomAsync"),
    ],
)
def test_bypass_headers_skip_declared_steps(header: str, value: str) -> None:
    fake = FakeDataverse()
    fake.add_plugin_step(event="Create", table="account", stage="pre", message="Declared.")
    assert _send(fake, "POST", "accounts", {"name": "A"}, **{header: value}).status_code == 204
    assert _send(fake, "POST", "accounts", {"name": "B"}).status_code == 400
    assert [r["name"] for r in fake.rows("account")] == ["A"]
