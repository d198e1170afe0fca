"""``d365leads demo``: the whole tour runs on a fresh install, with no tenant and no set-up."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from d365leads.cli.app import cli


def test_demo_walks_the_whole_lifecycle(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--fast", "--no-color", "--workdir", str(tmp_path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    for heading in (
        "1. My Open Leads",
        "2. Qualify a lead",
        "3. Disqualify leads",
        "4. The Closed Leads view",
        "5. Bulk reactivation",
        "6. Sync to SQLite",
        "Where to go next",
    ):
        assert heading in out
    # Qualification created all three records and they link back to the lead.
    assert "opportunity │ originatingleadid" in out
    # Three different disqualify reasons.
    for status in (
        "Disqualified/Lost",
        "Disqualified/Cannot Contact",
        "Disqualified/No Longer Interested",
    ):
        assert status in out
    # The bulk job reactivated every No Longer Interested lead, with a progress bar.
    assert "bulk ━" in out
    assert "“No Longer Interested” leads left: 0" in out
    flat = " ".join(out.split())
    kept = re.search(r"(\d+) of (\d+) are open again with their original owner", flat)
    assert kept is not None and kept.group(1) == kept.group(2) != "0"
    assert "\x1b[" not in out  # --no-color

    mirror = tmp_path / "mirror.sqlite"
    assert (tmp_path / "bulk-jobs.sqlite").exists()
    with sqlite3.connect(mirror) as db:
        leads = db.execute("select count(*) from lead").fetchone()[0]
        qualified = db.execute("select count(*) from lead where statecode = 1").fetchone()[0]
        nli = db.execute(
            "select count(*) from lead where statecode = 2 and statuscode = 6"
        ).fetchone()[0]
        opportunities = db.execute("select count(*) from opportunity").fetchone()[0]
    assert leads >= 300
    assert qualified >= 1
    assert nli == 0
    assert opportunities >= 1
    assert "Database:" in out and "mirror.sqlite" in out
