"""Every lifecycle example runs against the built-in fake and prints what it did."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "qualify_lead.py": [
        r"^Qualifying lead '.+' \(.+\) topic '.+'$",
        r"^Lead is now Qualified$",
        r"^Contact: +.+ \([0-9a-f-]{36}\)$",
        r"^Opportunity: .+ for customer .+ \([0-9a-f-]{36}\)$",
        r"^Originating lead of the opportunity: [0-9a-f-]{36}$",
        r"^Qualifying it again is refused: lead [0-9a-f-]{36} is closed \(Qualified\)",
    ],
    "disqualify_and_reactivate.py": [
        r"^Lead '.+', owner .+$",
        r"^Disqualified: Disqualified / No Longer Interested$",
        r"^Still there in Closed Leads: True$",
        r"^Editing it is refused: lead [0-9a-f-]{36} is inactive \(Disqualified\)",
        r"^Reactivated: Open / New, same owner: True$",
    ],
    "my_open_leads.py": [
        r"^My Open Leads for user [0-9a-f-]{36}$",
        r"^- .+ \| .+ \| .+ \| (New|Contacted)$",
        r"^Shown: 10$",
    ],
}


def _run(name: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("D365_", "AZURE_"))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_against_the_fake(name: str) -> None:
    output = _run(name)
    for pattern in EXPECTED[name]:
        assert re.search(pattern, output, re.MULTILINE), f"{pattern!r} not in:\n{output}"


def test_every_lifecycle_example_is_tested() -> None:
    mine = {"qualify_lead.py", "disqualify_and_reactivate.py", "my_open_leads.py"}
    assert mine <= {p.name for p in EXAMPLES.glob("*.py")}
    assert set(EXPECTED) == mine
