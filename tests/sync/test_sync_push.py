"""sync push against the fake: upserts from CSV, validation by line, nothing half-written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from d365leads.client import DataverseClient
from d365leads.errors import InvalidInputError
from d365leads.fake import FakeDataverse
from d365leads.sync.push import CsvValidationError, PushResult, push_csv


def _write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def _batches(fake: FakeDataverse) -> int:
    return len(fake.requests("POST", "$batch"))


def test_good_rows_create_and_update_through_batch(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    existing = fake.seed(
        "lead", [{"subject": "Old", "lastname": "Lee", "emailaddress1": "ana@example.com"}]
    )[0]
    account = fake.seed("account", [{"name": "Contoso"}])[0]
    source = _write(
        tmp_path / "leads.csv",
        f"""
emailaddress1,subject,lastname,revenue,numberofemployees,statuscode,leadsourcecode,parentaccountid,donotemail
ANA@example.com,Renewed interest,Lee,2500.75,12,Contacted,Web,{account},yes
bo@example.com,"New, with comma",Bo,,3,,8,,
cy@example.com,Third,Cy,10,,1,,,no
""",
    )
    result = push_csv(client, source)
    assert (result.created, result.updated, result.failed, result.invalid) == (2, 1, 0, 0)
    assert [r.action for r in result.rows] == ["update", "create", "create"]
    assert [r.line for r in result.rows] == [2, 3, 4]
    updated = fake.get("lead", existing)
    assert updated is not None
    assert updated["subject"] == "Renewed interest"
    assert updated["revenue"] == pytest.approx(2500.75)
    assert (updated["statecode"], updated["statuscode"]) == (0, 2)
    assert updated["leadsourcecode"] == 8 and updated["donotemail"] is True
    assert updated["parentaccountid"] == account
    created = {r["emailaddress1"]: r for r in fake.rows("lead")}
    assert created["bo@example.com"]["subject"] == "New, with comma"
    assert created["bo@example.com"]["leadid"] == result.rows[1].id
    assert created["cy@example.com"]["donotemail"] is False
    assert _batches(fake) == 1


def test_any_invalid_row_writes_nothing_and_reports_lines(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "bad.csv",
        """
emailaddress1,lastname,statuscode,revenue,numberofemployees
good@example.com,Good,New,1,1
not-an-email,Bad,New,1,1
ok@example.com,Bad,Sleeping,1,1
ok2@example.com,Bad,New,12abc,1
ok3@example.com,Bad,New,1,1.5
good@example.com,Dup,New,1,1
""",
    )
    with pytest.raises(CsvValidationError) as caught:
        push_csv(client.session, source)
    errors = {(e.line, e.column) for e in caught.value.errors}
    assert errors == {
        (3, "emailaddress1"),
        (4, "statuscode"),
        (5, "revenue"),
        (6, "numberofemployees"),
        (7, "emailaddress1"),
    }
    message = str(caught.value)
    assert "5 of 6 rows are invalid; nothing was written" in message
    assert "line 3, column emailaddress1: 'not-an-email' is not an e-mail address" in message
    assert "the same lead as line 2" in message
    assert fake.rows("lead") == []
    assert _batches(fake) == 0


def test_unknown_and_read_only_columns_are_refused(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "cols.csv", "emailaddress1,lastnme,fullname\na@example.com,Lee,Ana Lee\n"
    )
    with pytest.raises(CsvValidationError) as caught:
        push_csv(client.session, source)
    text = str(caught.value)
    assert "line 1, column lastnme: unknown lead column; did you mean 'lastname'?" in text
    assert "column fullname: cannot be written" in text
    # the unmodelled column was looked up in the org's column definitions: one read, no write
    [only] = fake.requests()
    assert only.method == "GET" and only.path == "EntityDefinitions(LogicalName='lead')/Attributes"


def test_skip_invalid_writes_valid_rows_and_the_report_lists_every_row(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "mixed.csv",
        """
emailaddress1,lastname,numberofemployees
a@example.com,A,1
b@example,B,2
c@example.com,C,x
""",
    )
    result = push_csv(client.session, source, skip_invalid=True)
    assert (result.created, result.invalid) == (1, 2)
    assert [r["emailaddress1"] for r in fake.rows("lead")] == ["a@example.com"]
    report = tmp_path / "report.csv"
    result.write_report(report)
    with report.open(encoding="utf-8") as fh:
        lines = list(csv.DictReader(fh))
    assert [(r["line"], r["action"]) for r in lines] == [
        ("2", "create"),
        ("3", "invalid"),
        ("4", "invalid"),
    ]
    assert "not a whole number" in lines[2]["error"]
    result.write_report(tmp_path / "report.json")
    payload = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert payload["created"] == 1 and payload["invalid"] == 2 and len(payload["rows"]) == 3


def test_dry_run_plans_without_writing(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    fake.seed("lead", [{"lastname": "Lee", "emailaddress1": "ana@example.com"}])
    source = _write(
        tmp_path / "plan.csv", "emailaddress1,subject\nana@example.com,x\nnew@example.com,y\n"
    )
    result = push_csv(client.session, source, dry_run=True)
    assert result.dry_run and (result.updated, result.created) == (1, 1)
    assert _batches(fake) == 0
    assert [r.get("subject") for r in fake.rows("lead")] == [None]


def test_declined_confirmation_writes_nothing(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = _write(tmp_path / "c.csv", "emailaddress1,lastname\nz@example.com,Z\n")
    seen: list[PushResult] = []

    def decline(plan: PushResult) -> bool:
        seen.append(plan)
        return False

    result = push_csv(client.session, source, confirm=decline)
    assert result.aborted and seen[0].created == 1
    assert fake.rows("lead") == [] and _batches(fake) == 0


def test_closed_and_ambiguous_matches_are_caught_before_writing(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    fake.seed(
        "lead",
        [
            {"lastname": "Closed", "emailaddress1": "closed@example.com", "statecode": 2,
             "statuscode": 4},
            {"lastname": "One", "emailaddress1": "twin@example.com"},
            {"lastname": "Two", "emailaddress1": "twin@example.com"},
        ],
    )  # fmt: skip
    source = _write(
        tmp_path / "m.csv",
        """
emailaddress1,subject,statuscode
closed@example.com,edit,
twin@example.com,edit,
brand-new@example.com,new,Lost
""",
    )
    with pytest.raises(CsvValidationError) as caught:
        push_csv(client.session, source)
    text = str(caught.value)
    assert "line 2: lead" in text and "is Disqualified" in text
    assert "line 3, column emailaddress1: 'twin@example.com' matches 2 leads" in text
    assert "line 4, column statuscode: a new lead starts Open" in text
    assert _batches(fake) == 0


def test_rows_dataverse_refuses_are_reported_as_failed(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "f.csv",
        "emailaddress1,lastname,parentaccountid\n"
        "a@example.com,A,\n"
        "b@example.com,B,00000000-0000-0000-0000-0000000000ab\n",
    )
    result = push_csv(client.session, source)
    assert (result.created, result.failed) == (1, 1)
    failed = result.rows[1]
    assert failed.line == 3 and failed.action == "failed" and failed.error
    assert [r["emailaddress1"] for r in fake.rows("lead")] == ["a@example.com"]


def test_missing_file_and_bad_match_column(client: DataverseClient, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        push_csv(client.session, tmp_path / "nope.csv")
    source = _write(tmp_path / "x.csv", "lastname\nA\n")
    with pytest.raises(InvalidInputError, match="cannot match on 'fullname'"):
        push_csv(client.session, source, match_on="fullname")
    with pytest.raises(CsvValidationError, match="match column 'emailaddress1' is not in"):
        push_csv(client.session, source)


def test_parallel_batches_share_the_throttle_and_write_every_row(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    lines = ["emailaddress1,lastname"] + [f"p{i}@example.com,P{i}" for i in range(20)]
    source = _write(tmp_path / "many.csv", "\n".join(lines) + "\n")
    fake.faults.throttle_next(1, retry_after=2, path=r"^\$batch")
    done: list[int] = []
    result = push_csv(client, source, batch_size=3, progress=lambda d, _t: done.append(d))
    assert (result.created, result.failed) == (20, 0)
    assert sorted(r["emailaddress1"] for r in fake.rows("lead")) == sorted(
        f"p{i}@example.com" for i in range(20)
    )
    assert len({r.id for r in result.rows}) == 20
    assert done[-1] == 20 and len(done) == 7
    assert _batches(fake) == 8  # 7 batches, one of them resent after its 429
    assert client.session.throttle.snapshot().throttled == 1


def test_reactivating_and_editing_a_closed_lead_is_one_atomic_changeset(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    closed = fake.seed(
        "lead",
        [{"lastname": "C", "emailaddress1": "c@example.com", "statecode": 2, "statuscode": 4}],
    )[0]
    source = _write(
        tmp_path / "r.csv", "emailaddress1,subject,statuscode\nc@example.com,Back again,New\n"
    )
    result = push_csv(client, source)
    assert (result.updated, result.failed) == (1, 0)
    row = fake.get("lead", closed)
    assert row is not None
    assert (row["statecode"], row["statuscode"], row["subject"]) == (0, 1, "Back again")
    [batch] = fake.requests("POST", "$batch")
    assert b"changeset" in batch.body
