"""Bad local CSV input for sync push: a clear error naming the line or field, nothing written;
reports are spreadsheet-safe."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from d365leads.client import DataverseClient
from d365leads.errors import InvalidInputError
from d365leads.fake import FakeDataverse
from d365leads.sync.push import CsvValidationError, push_csv


def _nothing_written(fake: FakeDataverse) -> None:
    assert fake.rows("lead") == []
    assert [r for r in fake.requests() if r.method != "GET"] == []


def test_a_bom_is_read_as_part_of_the_encoding(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = tmp_path / "bom.csv"
    source.write_bytes(b"\xef\xbb\xbfemailaddress1,lastname\r\na@example.com,Lee\r\n")
    result = push_csv(client, source)
    assert result.created == 1
    assert fake.rows("lead")[0]["emailaddress1"] == "a@example.com"


def test_semicolons_are_named_and_nothing_is_written(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = tmp_path / "semi.csv"
    source.write_text("emailaddress1;lastname\na@example.com;Lee\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"line 1: .*separated by semicolons"):
        push_csv(client, source)
    _nothing_written(fake)


def test_duplicate_headers_name_the_column(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = tmp_path / "dup.csv"
    source.write_text("emailaddress1,lastname,LastName\na@example.com,Lee,Li\n", encoding="utf-8")
    with pytest.raises(CsvValidationError, match="column lastname: the column appears twice"):
        push_csv(client, source)
    _nothing_written(fake)


def test_mixed_encodings_name_the_line(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = tmp_path / "mixed.csv"
    source.write_bytes(
        "emailaddress1,lastname\na@example.com,Müller\n".encode()
        + "b@example.com,Müller\n".encode("cp1252")
    )
    with pytest.raises(InvalidInputError, match=r"line 3 is not UTF-8"):
        push_csv(client, source)
    _nothing_written(fake)


def test_the_report_neutralises_formula_cells(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = tmp_path / "formula.csv"
    source.write_text(
        'lastname,emailaddress1,numberofemployees\n"=HYPERLINK(""http://x"")",a@example.com,x\n',
        encoding="utf-8",
    )
    result = push_csv(client, source, match_on="lastname", dry_run=True, skip_invalid=True)
    assert result.invalid == 1
    report = tmp_path / "report.csv"
    result.write_report(report)
    with report.open(encoding="utf-8") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
    assert '\'=HYPERLINK("http://x")' in cells
    _nothing_written(fake)
