"""Import directions of CONTRIBUTING.md / docs/architecture.md, checked with ``ast``.

Layers (a module may import its own layer or lower ones):

    L0 errors, _wire, _version
    L1 config, auth, redaction, odata.*, models.*
    L2 http.*                                (the only network I/O)
    L3 records, resources.*, metadata, batch, bulk.*, sync.*, actions
    L4 client, the package __init__
    L5 cli.*, demo, __main__, pytest plugins (nothing imports them)

Islands: ``cassette.*`` imports only the stdlib (anyone may import it);
``fake.*`` imports only the stdlib, ``responses``, ``requests`` (its exceptions, for injected
faults), ``yaml`` (seed files) and ``cassette``; ``fake.pytest_plugin`` may also build a client
from the public surface (``d365leads``, ``d365leads.client``, ``d365leads.auth``), never
odata/models/http.
Third-party: ``msal`` only in ``auth``; ``requests``/``urllib3`` only in ``http`` (and the fake).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "d365leads"

LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("errors", "_wire", "_version", "csvsafe")),
    (1, ("config", "auth", "redaction", "odata", "models")),
    (2, ("http",)),
    (3, ("records", "resources", "metadata", "batch", "bulk", "sync", "actions", "frames")),
    (3, ("fetchxml", "views")),
    (4, ("client", "")),
    (5, ("cli", "demo", "__main__", "pytest_cassettes")),
]
PLUGIN_CLIENT_IMPORTS = ("d365leads", "d365leads.client", "d365leads.auth", "d365leads.errors")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The layer of a ``d365leads...`` module; ``None`` for islands and unknown modules."""
    rest = module.split(".")[1:]
    head = rest[0] if rest else ""
    if head in ("fake", "cassette"):
        return None
    for level, heads in LAYERS:
        if head in heads:
            return level
    return None


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Absolute names imported by ``path`` (relative imports resolved), with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            # "from d365leads import client" imports the submodule d365leads.client
            from_package = False
            if target == "d365leads" or target.startswith("d365leads."):
                for alias in node.names:
                    candidate = PACKAGE.parent / Path(*f"{target}.{alias.name}".split("."))
                    if candidate.with_suffix(".py").exists() or candidate.is_dir():
                        found.append((f"{target}.{alias.name}", node.lineno))
                    else:
                        from_package = True
            else:
                from_package = True
            if from_package:
                found.append((target, node.lineno))
    return found


def violations_for(path: Path) -> list[str]:
    here = module_name(path)
    rel = path.relative_to(PACKAGE.parent)
    head = here.split(".")[1] if "." in here else ""
    problems: list[str] = []
    for target, line in imports_of(path):
        top = target.split(".")[0]
        where = f"{rel}:{line} imports {target}"
        if top == "msal" and here != "d365leads.auth":
            problems.append(f"{where}: only d365leads.auth may import msal")
        if top in ("requests", "urllib3") and head not in ("http", "fake"):
            problems.append(f"{where}: only d365leads.http may use requests")
        if head == "cassette":
            if top != "d365leads" and top not in sys.stdlib_module_names and top != "__future__":
                problems.append(f"{where}: cassette/ is stdlib-only")
            if top == "d365leads" and not target.startswith("d365leads.cassette"):
                problems.append(f"{where}: cassette/ is an island")
            continue
        if head == "fake":
            allowed_third = {"responses", "requests", "urllib3", "yaml", "__future__"}
            if here == "d365leads.fake.pytest_plugin":
                allowed_third.add("pytest")
            if top != "d365leads" and top not in sys.stdlib_module_names | allowed_third:
                problems.append(f"{where}: fake/ may import only the stdlib, responses and yaml")
            if top == "d365leads" and not target.startswith(
                ("d365leads.fake", "d365leads.cassette")
            ):
                plugin = here == "d365leads.fake.pytest_plugin"
                if not (plugin and target in PLUGIN_CLIENT_IMPORTS):
                    problems.append(f"{where}: fake/ is an island")
            continue
        if top != "d365leads":
            continue
        target_layer = layer_of(target)
        target_head = target.split(".")[1] if "." in target else ""
        if target_head == "fake" and layer_of(here) not in (5,):
            problems.append(f"{where}: only entry points (cli, plugins) may import the fake")
        if target_head == "cli" and layer_of(here) != 5:
            problems.append(f"{where}: nothing imports the CLI")
        own_layer = layer_of(here)
        if own_layer is None or target_layer is None:
            continue
        if target_layer > own_layer:
            problems.append(f"{where}: layer {own_layer} must not import layer {target_layer}")
    return problems


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    unknown = []
    for path in package_files():
        name = module_name(path)
        head = name.split(".")[1] if "." in name else ""
        if head not in ("fake", "cassette") and layer_of(name) is None:
            unknown.append(name)
    assert unknown == [], "add these modules to LAYERS in tests/test_layering.py"


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_import_directions(path: Path) -> None:
    assert violations_for(path) == []


def test_the_checker_catches_violations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pkg = tmp_path / "d365leads"
    (fake_pkg / "odata").mkdir(parents=True)
    (fake_pkg / "fake").mkdir()
    (fake_pkg / "cassette").mkdir()
    (fake_pkg / "client.py").write_text("")
    (fake_pkg / "odata" / "query.py").write_text(
        "from d365leads.http.pipeline import ApiSession\nimport requests\n"
    )
    (fake_pkg / "fake" / "store.py").write_text(
        "from ..odata import query\nfrom d365leads.models import Lead\nimport pydantic\n"
    )
    (fake_pkg / "cassette" / "model.py").write_text("import yaml\nfrom d365leads import errors\n")
    (fake_pkg / "records.py").write_text("import msal\nfrom d365leads import client, cli\n")
    (fake_pkg / "cli").mkdir()
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake_pkg)
    assert len(violations_for(fake_pkg / "odata" / "query.py")) == 2
    assert len(violations_for(fake_pkg / "fake" / "store.py")) == 3
    assert len(violations_for(fake_pkg / "cassette" / "model.py")) == 2
    assert len(violations_for(fake_pkg / "records.py")) == 4  # msal, client, cli (twice)
