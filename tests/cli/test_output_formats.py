"""Output formats (yaml, tsv, csv), --query (JMESPath), --wide and spreadsheet-safe cells."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import Cli, json_out

EVIL = '=HYPERLINK("http://x","click")'
LONG = "A very long description " * 10


@pytest.fixture
def leads(fake_dataverse: Any) -> list[str]:
    return list(
        fake_dataverse.seed(
            "lead",
            [
                {
                    "subject": "Formula",
                    "lastname": "Evil",
                    "companyname": EVIL,
                    "jobtitle": "-2+3",
                    "createdon": "2026-01-02T10:00:00Z",
                },
                {
                    "subject": "Tabbed\tsubject",
                    "lastname": "Plain",
                    "companyname": "Contoso",
                    "description": LONG,
                    "createdon": "2026-01-01T10:00:00Z",
                },
            ],
        )
    )


_COLS = "subject,companyname,jobtitle"


def test_csv_neutralises_formula_cells(run: Cli, leads: list[str]) -> None:
    result = run("leads", "list", "--select", _COLS, output="csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["companyname"] == "'" + EVIL
    assert rows[0]["jobtitle"] == "'-2+3"
    assert rows[1]["companyname"] == "Contoso"
    raw = run("leads", "list", "--select", _COLS, "--raw-csv", output="csv")
    raw_rows = list(csv.DictReader(io.StringIO(raw.stdout)))
    assert raw_rows[0]["companyname"] == EVIL and raw_rows[0]["jobtitle"] == "-2+3"


def test_tsv_is_values_only_escaped_and_safe(run: Cli, leads: list[str]) -> None:
    result = run("leads", "list", "--select", _COLS, output="tsv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        "Formula\t'" + EVIL + "\t'-2+3",
        "Tabbed\\tsubject\tContoso\t",
    ]
    raw = run("leads", "list", "--select", _COLS, "--raw-csv", output="tsv")
    assert raw.stdout.splitlines()[0] == "Formula\t" + EVIL + "\t-2+3"


def test_yaml_rows_and_record(run: Cli, leads: list[str]) -> None:
    rows = yaml.safe_load(run("leads", "list", "--select", "subject", output="yaml").stdout)
    assert rows == [{"subject": "Formula"}, {"subject": "Tabbed\tsubject"}]
    shown = yaml.safe_load(run("leads", "show", leads[0], output="yaml").stdout)
    assert shown["leadid"] == leads[0] and shown["companyname"] == EVIL


def test_query_selects_from_the_json_result(run: Cli, leads: list[str]) -> None:
    names = json_out(run("leads", "list", "--query", "[].companyname"))
    assert names == [EVIL, "Contoso"]
    first = json_out(run("--query", "[0].{id: leadid, who: fullname}", "leads", "list"))
    assert first == {"id": leads[0], "who": "Evil"}
    picked = json_out(run("leads", "show", leads[1], "--query", "subject"))
    assert picked == "Tabbed\tsubject"
    tsv = run("leads", "list", "--query", "[].[subject, companyname]", output="tsv")
    assert tsv.stdout.splitlines() == ["Formula\t'" + EVIL, "Tabbed\\tsubject\tContoso"]
    table = run("leads", "list", "--query", "[?companyname=='Contoso'].subject", output="table")
    assert table.stdout.strip() == "Tabbed\tsubject"
    rows = run("leads", "list", "--query", "[].{s: subject}", output="csv")
    assert rows.stdout.splitlines() == ["s", "Formula", "Tabbed\tsubject"]


def test_bad_query_is_a_usage_error(run: Cli, fake_dataverse: Any) -> None:
    result = run("leads", "list", "--query", "[?name==")
    assert result.exit_code == 2
    assert "--query" in result.stderr and "JMESPath" in result.stderr
    assert fake_dataverse.journal == []


def test_tables_shorten_long_text_unless_wide(run: Cli, leads: list[str]) -> None:
    short = run("leads", "show", leads[1], output="table")
    assert LONG.strip() not in short.stdout and "…" in short.stdout
    assert "--wide" in short.stderr
    listed = run("leads", "list", "--select", "subject,description", output="table")
    assert "…" in listed.stdout and "--wide" in listed.stderr
    wide = run("leads", "show", leads[1], "--wide", output="table")
    flat = " ".join(wide.stdout.split())
    assert " ".join(LONG.split()) in flat and "--wide" not in wide.stderr


def test_jsonl_with_query_writes_one_line_per_item(run: Cli, leads: list[str]) -> None:
    result = run("leads", "list", "--query", "[].subject", output="jsonl")
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        "Formula",
        "Tabbed\tsubject",
    ]


def test_bulk_report_csv_is_spreadsheet_safe(fake_dataverse: Any, tmp_path: Path, run: Cli) -> None:
    fake_dataverse.seed(
        "lead",
        [{"subject": "x", "lastname": "@SUM(A1)", "statecode": 2, "statuscode": 6}],
    )
    for raw, expected in ((False, "'@SUM(A1)"), (True, "@SUM(A1)")):
        if raw:  # the first run reopened the lead: close another one for the second run
            fake_dataverse.seed(
                "lead",
                [{"subject": "y", "lastname": "@SUM(A1)", "statecode": 2, "statuscode": 6}],
            )
        report = tmp_path / f"report-{raw}.csv"
        args = ["bulk", "reactivate", "--reason", "no-longer-interested", "--yes"]
        args += ["--report", str(report), "--journal", str(tmp_path / f"j-{raw}.sqlite")]
        if raw:
            args.append("--raw-csv")
        result = run(*args)
        assert result.exit_code == 0, result.stderr
        (row,) = list(csv.DictReader(report.open(encoding="utf-8")))
        assert row["name"] == expected
