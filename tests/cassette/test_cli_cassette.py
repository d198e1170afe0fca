"""``d365leads cassette scan`` and ``cassette show`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from d365leads.cassette import Cassette, Redactor
from d365leads.cli.app import cli

SECRET = "s3cr3t-client-secret-value-0123456789"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJhYmMifQ.c2lnbmF0dXJlLXBhcnQ"


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _clean_cassette(path: Path) -> None:
    redactor = Redactor("https://contoso.crm.dynamics.com")
    interaction = redactor.interaction(
        "GET",
        "https://contoso.crm.dynamics.com/api/data/v9.2/leads?$top=1",
        {"Authorization": f"Bearer {JWT}"},
        None,
        200,
        {"Content-Type": "application/json"},
        json.dumps({"value": [{"emailaddress1": "ana@corp.io", "subject": "Fleet"}]}).encode(),
    )
    Cassette([interaction]).save(path)


def test_clean_cassettes_pass_with_exit_0(tmp_path: Path) -> None:
    _clean_cassette(tmp_path / "a.json")
    _clean_cassette(tmp_path / "nested" / "b.json")
    result = _run("cassette", "scan", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "2 file(s) scanned" in result.output


def test_planted_secrets_fail_with_exit_1_and_findings_on_stderr(tmp_path: Path) -> None:
    _clean_cassette(tmp_path / "clean.json")
    leaky = json.loads((tmp_path / "clean.json").read_text())
    request = leaky["interactions"][0]["request"]
    request["headers"]["Authorization"] = f"Bearer {JWT}"
    request["body"] = {"client_secret": SECRET}
    leaky["interactions"][0]["response"]["body"]["value"][0]["emailaddress1"] = "ana@corp.io"
    (tmp_path / "leaky.json").write_text(json.dumps(leaky))

    result = _run("cassette", "scan", str(tmp_path))
    assert result.exit_code == 1
    assert result.stdout == ""
    err = result.stderr
    assert "leaky.json" in err and "clean.json" not in err.replace("leaky.json", "")
    assert "Authorization header present" in err
    assert "secret-looking value under 'client_secret'" in err
    assert "unredacted e-mail address" in err
    assert "problem(s) in 2 file(s) scanned" in err
    # The report never repeats what it found.
    assert SECRET not in err and JWT not in err and "ana@corp.io" not in err


def test_missing_path_is_a_usage_error_with_exit_2(tmp_path: Path) -> None:
    result = _run("cassette", "scan", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "nowhere" in result.stderr


def test_show_lists_the_interactions(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    _clean_cassette(path)
    result = _run("-o", "json", "cassette", "show", str(path))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"#": 1, "method": "GET", "path": "/api/data/v9.2/leads", "status": 200}
    ]
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    bad = _run("cassette", "show", str(tmp_path / "other.json"))
    assert bad.exit_code == 2 and "not a d365leads cassette" in bad.stderr
