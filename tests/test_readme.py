"""The README's Python examples run as written, against the fake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def _block(marker: str) -> str:
    found = [b for b in _blocks() if marker in b]
    assert len(found) == 1, f"expected one README python block containing {marker!r}"
    return found[0]


def test_every_python_block_compiles() -> None:
    blocks = _blocks()
    assert len(blocks) >= 4
    for block in blocks:
        compile(block, "README.md", "exec")


def test_library_quickstart_runs(
    fake_dataverse_server: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_dataverse_server.seed_demo_data()
    monkeypatch.setenv("D365_URL", fake_dataverse_server.url)
    monkeypatch.setenv("D365_ACCESS_TOKEN", "readme-token")
    exec(_block("client.leads.qualify(lead)"), {})
    out = capsys.readouterr().out
    assert "Fleet renewal" in out and "Contoso" in out and "Ana Lee" in out
    leads = {row["subject"]: row for row in fake_dataverse_server.rows("lead")}
    assert leads["Fleet renewal"]["statecode"] == 1
    assert leads["Cold call"]["statecode"] == 0 and leads["Cold call"]["statuscode"] == 1


def test_testing_with_the_fake_example_runs(fake_dataverse: Any) -> None:
    namespace: dict[str, Any] = {}
    exec(_block("def test_close_stale"), namespace)
    namespace["test_close_stale"](fake_dataverse)
    assert fake_dataverse.rows("lead")[0]["statecode"] == 2


def test_bulk_example_runs(
    fake_dataverse_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ids = fake_dataverse_server.seed(
        "lead",
        [
            {"subject": f"Lead {n}", "lastname": f"L{n}", "statecode": 2, "statuscode": 6}
            for n in range(7)
        ],
    )
    fake_dataverse_server.seed("team", [{"name": "Sales West", "teamtype": 0}])
    monkeypatch.setenv("D365_URL", fake_dataverse_server.url)
    monkeypatch.setenv("D365_ACCESS_TOKEN", "readme-token")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(_block("run_bulk_job(client.session"), namespace)
    assert namespace["spec"].owner_label.startswith("team 'Sales West'")
    assert (tmp_path / "jobs.sqlite").exists()
    for lead_id in ids:
        row = fake_dataverse_server.get("lead", lead_id)
        assert (row["statecode"], row["statuscode"]) == (0, 1)
