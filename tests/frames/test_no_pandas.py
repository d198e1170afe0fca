"""The core package never imports pandas; without pandas the DataFrame methods say what to
install. These run whether or not pandas is installed."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from d365leads.errors import InvalidInputError


def test_core_package_never_imports_pandas() -> None:
    code = (
        "import sys\n"
        "import d365leads, d365leads.client, d365leads.records, d365leads.frames\n"
        "import d365leads.cli.app, d365leads.cli.records, d365leads.cli.sales\n"
        "import d365leads.bulk, d365leads.fake\n"
        "from click.testing import CliRunner\n"
        "from d365leads.cli.app import cli\n"
        "assert CliRunner().invoke(cli, ['records', '--help']).exit_code == 0\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_without_pandas_the_error_says_what_to_install(
    fake_dataverse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # what an absent package looks like
    client = fake_dataverse.client()
    with pytest.raises(InvalidInputError, match=r"pip install 'd365leads\[pandas\]'"):
        client.records.to_dataframe("account")
    with pytest.raises(InvalidInputError, match="d365leads\\[pandas\\]"):
        client.leads.to_dataframe("open")
    assert fake_dataverse.journal == []
