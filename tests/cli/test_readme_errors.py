"""The error lines README.md shows under "When something is wrong" are what the CLI prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli_helpers import Cli

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_errors() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## When something is wrong", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("Error: ")]


def _printed(result: Any, ids: list[str]) -> str:
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("Error: ")]
    for record_id in ids:
        line = line.replace(record_id, "<id>")
    return str(line)


def test_readme_error_lines_match_the_cli(run: Cli, fake_dataverse: Any, tmp_path: Path) -> None:
    closed = fake_dataverse.seed(
        "lead", [{"subject": "Done", "lastname": "Ng", "statecode": 1, "statuscode": 3}]
    )[0]
    open_lead = fake_dataverse.seed("lead", [{"subject": "Open", "lastname": "Ng"}])[0]
    seed = tmp_path / "seed.json"
    seed.write_text('{"contact": [{"lastname": "Lee", "parentcustomerid": "$acme"}]}')
    results = [
        run("leads", "qualify", closed),
        run("leads", "disqualify", open_lead, "--reason", "bored"),
        run("leads", "show", "12345"),
        run("leads", "update", closed, "--set", "subject=x"),
        Cli(None)("whoami"),
        Cli(None)("whoami", env={"D365_URL": "http://contoso.crm.dynamics.com"}),
        Cli(None)("fake", "serve", "--seed", str(seed), output=None),
    ]
    assert [r.exit_code for r in results] == [2] * len(results)
    assert [_printed(r, [closed, open_lead]) for r in results] == _readme_errors()
