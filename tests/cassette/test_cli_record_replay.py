"""``d365leads --record FILE`` and serving a cassette (``fake serve --replay``,
``python -m d365leads.fake --replay``), against the fake server."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from d365leads.cassette import Cassette, scan_paths
from d365leads.cli.app import cli
from d365leads.fake import FakeDataverse, run_server
from d365leads.fake import __main__ as fake_main
from d365leads.fake.adapters.replay import CassettePlayer

TOKEN = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJyZWNvcmRpbmctdXNlciJ9.c2lnbmF0dXJlLWJ5dGVz"
REAL_EMAIL = "jane.roe@contoso.com"


def _cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"D365_ACCESS_TOKEN": TOKEN})


@pytest.fixture
def seeded(fake_dataverse_server: Any) -> Any:
    fake_dataverse_server.seed(
        "lead",
        [
            {"subject": "Fleet renewal", "lastname": "Roe", "emailaddress1": REAL_EMAIL},
            {"subject": "Spare parts", "lastname": "Doe", "emailaddress1": "doe@example.com"},
            {"subject": "Service plan", "lastname": "Poe", "telephone1": "555-0123"},
        ],
    )
    return fake_dataverse_server


def _list_args(url: str, record: Path | None = None) -> list[str]:
    head = ["--url", url] + (["--record", str(record)] if record else [])
    # -o after the subcommand is hoisted; --record's value must not be taken for a command.
    columns = "leadid,subject,emailaddress1"
    return [*head, "leads", "list", "--all", "--select", columns, "-o", "json"]


def test_record_writes_a_redacted_cassette_that_replays_the_same_output(
    seeded: Any, tmp_path: Path
) -> None:
    path = tmp_path / "list.json"
    live = _cli(*_list_args(seeded.url, path))
    assert live.exit_code == 0, live.stderr
    rows = json.loads(live.stdout)
    assert sorted(r["subject"] for r in rows) == ["Fleet renewal", "Service plan", "Spare parts"]

    text = path.read_text(encoding="utf-8")
    assert TOKEN not in text and "Bearer" not in text
    assert "127.0.0.1" not in text and REAL_EMAIL not in text
    assert "doe@example.com" in text  # synthetic values stay as they are
    assert scan_paths([path]) == ([], 1)
    cassette = Cassette.load(path)
    assert [i.request.method for i in cassette.interactions] == ["GET"]
    assert cassette.interactions[0].request.path == "/api/data/v9.2/leads"

    # Replay the cassette through a server that has no data of its own.
    replayer = FakeDataverse()
    replayer.replay = player = CassettePlayer(path)
    with replayer.serve() as server:
        again = _cli(*_list_args(server.url))
    assert again.exit_code == 0, again.stderr
    replayed = json.loads(again.stdout)
    assert [r["leadid"] for r in replayed] == [r["leadid"] for r in rows]
    assert [r["subject"] for r in replayed] == [r["subject"] for r in rows]
    emails = {r["subject"]: r["emailaddress1"] for r in replayed}
    assert emails["Spare parts"] == "doe@example.com"
    assert emails["Fleet renewal"].startswith("person-")
    assert emails["Fleet renewal"].endswith("@example.com")
    assert player.unused == 0 and replayer.rows("lead") == []


def test_a_failed_command_still_records_what_the_org_answered(
    fake_dataverse_server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "missing.json"
    missing = "00000000-0000-0000-0000-00000000abcd"
    args = ["--url", fake_dataverse_server.url, "--record", str(path), "leads", "show", missing]
    result = _cli(*args)
    assert result.exit_code != 0 and missing in result.stderr
    (interaction,) = Cassette.load(path).interactions
    assert interaction.response.status == 404

    replayer = FakeDataverse()
    replayer.replay = CassettePlayer(path)
    with replayer.serve() as server:
        again = _cli("--url", server.url, "leads", "show", missing)
    assert (again.exit_code, again.stderr) == (
        result.exit_code,
        result.stderr.replace(fake_dataverse_server.url, server.url),
    )


class _FirstLine:
    """A text stream for run_server's ``out``: signals when the URL line arrives."""

    def __init__(self) -> None:
        self.text = ""
        self.ready = threading.Event()

    def write(self, data: str) -> int:
        self.text += data
        if "\n" in self.text:
            self.ready.set()
        return len(data)

    def flush(self) -> None:
        return None


def test_run_server_replays_a_cassette_with_auth_still_enforced(
    seeded: Any, tmp_path: Path
) -> None:
    path = tmp_path / "list.json"
    assert _cli(*_list_args(seeded.url, path)).exit_code == 0
    out, stop = _FirstLine(), threading.Event()
    thread = threading.Thread(
        target=run_server, kwargs={"replay": path, "out": out, "stop": stop}, daemon=True
    )
    thread.start()
    try:
        assert out.ready.wait(5)
        url = out.text.strip()
        result = _cli(*_list_args(url))
        assert result.exit_code == 0, result.stderr
        assert len(json.loads(result.stdout)) == 3
        # The fake's middleware still runs in front of the cassette: no token, no answer.
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(url + "/api/data/v9.2/leads", timeout=5)
        assert anonymous.value.code == 401
    finally:
        stop.set()
        thread.join(5)


def test_run_server_rejects_a_missing_cassette_or_seed_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no cassette at"):
        run_server(replay=tmp_path / "absent.json", out=_FirstLine(), stop=threading.Event())
    path = tmp_path / "c.json"
    Cassette().save(path)
    with pytest.raises(ValueError, match="cannot be combined with seed data"):
        run_server(replay=path, demo_data=True, out=_FirstLine(), stop=threading.Event())


def test_fake_serve_and_module_forward_replay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import d365leads.fake as fake_package

    path = tmp_path / "c.json"
    Cassette().save(path)
    calls: list[dict[str, Any]] = []

    def record_call(**kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(fake_package, "run_server", record_call)
    monkeypatch.setattr(fake_main, "run_server", record_call)
    result = CliRunner().invoke(cli, ["fake", "serve", "--replay", str(path)])
    assert result.exit_code == 0, result.stderr
    assert fake_main.main(["--replay", str(path)]) == 0
    assert [c["replay"] for c in calls] == [path, str(path)]
    missing = CliRunner().invoke(cli, ["fake", "serve", "--replay", str(tmp_path / "no.json")])
    assert missing.exit_code == 2 and "no.json" in missing.stderr


def test_module_entry_point_reports_a_missing_cassette(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fake_main.main(["--replay", str(tmp_path / "absent.json")]) == 2
    assert "no cassette at" in capsys.readouterr().err


def test_an_unwritable_record_path_is_reported(seeded: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cassette's folder should be")
    result = _cli(*_list_args(seeded.url, blocker / "c.json"))
    assert result.exit_code == 1
    assert "not-a-folder" in result.stderr and "Traceback" not in result.output
