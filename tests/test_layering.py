"""Import directions of CONTRIBUTING.md / docs/architecture.md, checked with ``ast``.

Layers (a module may import its own layer or lower ones):

    L0 errors, _wire, _version
    L1 config, auth, redaction, odata.*, models.*
    L2 http.*                                (the only network I/O)
    L3 records, resources.*, metadata, batch, bulk.*, sync.*, actions
    L4 client, the package __init__
    L5 cli.*, demo, testing, __main__, pytest plugins (nothing imports them)

Islands: ``cassette.*`` imports only the stdlib (anyone may import it);
``fake.*`` imports only the stdlib, ``responses``, ``requests`` (its exceptions, for injected
faults), ``yaml`` (seed files) and ``cassette``, never the client (its pytest plugin asks a hook
for clients; ``d365leads.testing`` answers it).
Third-party: ``msal`` only in ``auth.*`` (``auth.msal``); ``requests``/``urllib3`` only in
``http`` (and the fake).

The fake's own layers (docs/architecture.md, "The fake"), each importing only its own rank or
lower ones:

    F0 fake.core                              options, clock, faults, values, metering
    F1 fake.org, fake.wire, fake.fetchxml     org never imports wire; wire imports only the
                                              schema types of org (fake.org.schema);
                                              fetchxml (the engine) imports only itself
    F2 fake.handlers                          other handlers only by public names
    F3 fake.pipeline                          middleware chain and router
    F4 fake.adapters transports               responses_mock, server, replay, login_paths
    F5 fake.facade                            FakeDataverse
    F6 fake entry points                      fake/__init__, __main__, adapters.serve,
                                              adapters.pytest_plugin, adapters.pytest_hooks

and no import circle between the fake's modules.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "d365leads"

LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("errors", "_wire", "_version", "csvsafe")),
    (1, ("config", "auth", "redaction", "odata", "models", "pg_waits")),
    (2, ("http",)),
    (3, ("records", "resources", "metadata", "batch", "bulk", "sync", "actions", "frames")),
    (3, ("multiple",)),
    (3, ("fetchxml", "views")),
    (4, ("client", "")),
    (5, ("cli", "demo", "testing", "__main__", "pytest_cassettes")),
]
FAKE_LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("core",)),
    (1, ("org", "wire", "fetchxml")),
    (2, ("handlers",)),
    (3, ("pipeline",)),
    (4, ("adapters.responses_mock", "adapters.server", "adapters.replay", "adapters.login_paths")),
    (5, ("facade",)),
    (6, ("", "__main__", "adapters", "adapters.serve", "adapters.pytest_plugin")),
    (6, ("adapters.pytest_hooks",)),
]
"""Ranks of the fake's modules by their path below ``d365leads.fake`` (longest prefix wins)."""
PYTEST_MODULES = ("d365leads.fake.adapters.pytest_plugin", "d365leads.fake.adapters.pytest_hooks")


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


def fake_rank(module: str) -> int | None:
    """The rank of a ``d365leads.fake...`` module in :data:`FAKE_LAYERS`; ``None`` if unknown."""
    if module != "d365leads.fake" and not module.startswith("d365leads.fake."):
        return None
    rest = module[len("d365leads.fake") :].lstrip(".")
    best: tuple[int, int] | None = None  # (prefix length, rank)
    for rank, prefixes in FAKE_LAYERS:
        for prefix in prefixes:
            exact = rest == prefix
            below = bool(prefix) and rest.startswith(prefix + ".")
            if (exact or below) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return best[1] if best is not None else None


def fake_violation(here: str, target: str) -> str | None:
    """Why ``here`` (a fake module) may not import ``target`` (a fake module), or ``None``."""
    own, other = fake_rank(here), fake_rank(target)
    if own is None or other is None:
        return None
    part = here.split(".")[2] if here.count(".") >= 2 else ""
    target_part = target.split(".")[2] if target.count(".") >= 2 else ""
    if other > own:
        return f"fake layer {own} ({part or 'fake'}) must not import layer {other} ({target_part})"
    if part == "fetchxml" and target_part != "fetchxml":
        return "fake.fetchxml is self-contained: it imports only itself and the stdlib"
    if part == "wire" and target_part == "fetchxml":
        return "fake.wire knows no FetchXML: handlers.fetch joins the engine and the wire"
    if part == "org" and target_part == "wire":
        return "fake.org knows nothing of HTTP: it must not import fake.wire"
    if (
        part == "wire"
        and target_part == "org"
        and not target.startswith("d365leads.fake.org.schema")
    ):
        return "fake.wire may use only the schema types of the org (fake.org.schema)"
    return None


def private_handler_imports(path: Path) -> list[str]:
    """Private names a handler module imports from another handler module."""
    here = module_name(path)
    if not here.startswith("d365leads.fake.handlers."):
        return []
    shared = ("d365leads.fake.handlers._common", "d365leads.fake.handlers.context")
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        target = resolve_from(here, path, node)
        if target.startswith("d365leads.fake.handlers.") and target not in shared:
            found.extend(
                f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {target}.{a.name}: "
                "handlers share helpers through handlers._common, not each other's internals"
                for a in node.names
                if a.name.startswith("_")
            )
    return found


def resolve_from(here: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module of a ``from … import`` in module ``here`` (file ``path``)."""
    if not node.level:
        return node.module or ""
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    base_parts = package.split(".")
    base = ".".join(base_parts[: len(base_parts) - (node.level - 1)])
    return f"{base}.{node.module}" if node.module else base


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
        if top == "msal" and not (here + ".").startswith("d365leads.auth."):
            problems.append(f"{where}: only d365leads.auth.* may import msal")
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
            if here in PYTEST_MODULES:
                allowed_third |= {"pytest", "pluggy"}
            if top != "d365leads" and top not in sys.stdlib_module_names | allowed_third:
                problems.append(f"{where}: fake/ may import only the stdlib, responses and yaml")
            if top == "d365leads" and not target.startswith(
                ("d365leads.fake", "d365leads.cassette")
            ):
                problems.append(f"{where}: fake/ is an island (it imports nothing of the client)")
            why = fake_violation(here, target)
            if why is not None:
                problems.append(f"{where}: {why}")
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


def fake_cycles() -> list[list[str]]:
    """Import circles between the fake's modules (each reported once, from its smallest name)."""
    graph: dict[str, set[str]] = {}
    for path in package_files():
        here = module_name(path)
        if here == "d365leads.fake" or here.startswith("d365leads.fake."):
            graph[here] = {t for t, _ in imports_of(path) if t in _fake_modules()}
    cycles: list[list[str]] = []
    for start in sorted(graph):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    cycles.append(trail)
                elif nxt > start and nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
    return cycles


def _fake_modules() -> set[str]:
    return {
        module_name(p)
        for p in package_files()
        if module_name(p) == "d365leads.fake" or module_name(p).startswith("d365leads.fake.")
    }


def test_every_module_has_a_layer() -> None:
    unknown = []
    for path in package_files():
        name = module_name(path)
        head = name.split(".")[1] if "." in name else ""
        if head not in ("fake", "cassette") and layer_of(name) is None:
            unknown.append(name)
    assert unknown == [], "add these modules to LAYERS in tests/test_layering.py"


def test_every_fake_module_has_a_layer() -> None:
    unknown = [
        module_name(p)
        for p in package_files()
        if module_name(p).startswith("d365leads.fake") and fake_rank(module_name(p)) is None
    ]
    assert unknown == [], "add these modules to FAKE_LAYERS in tests/test_layering.py"


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_import_directions(path: Path) -> None:
    assert violations_for(path) + private_handler_imports(path) == []


def test_no_import_circle_inside_the_fake() -> None:
    assert fake_cycles() == []


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
    (fake_pkg / "auth").mkdir()
    (fake_pkg / "auth" / "msal.py").write_text("import msal\n")
    (fake_pkg / "authority.py").write_text("import msal\n")
    # Inside the fake: upward imports, org -> wire, wire -> the store, a handler's internals,
    # the client from the pytest plugin, and a circle.
    for folder in ("core", "org", "wire", "handlers", "pipeline", "adapters"):
        (fake_pkg / "fake" / folder).mkdir()
        (fake_pkg / "fake" / folder / "__init__.py").write_text("")
    (fake_pkg / "fake" / "core" / "fault.py").write_text("from ..pipeline import router\n")
    (fake_pkg / "fake" / "org" / "store.py").write_text("from ..wire import messages\n")
    (fake_pkg / "fake" / "wire" / "messages.py").write_text("from ..org import store\n")
    (fake_pkg / "fake" / "handlers" / "crud.py").write_text(
        "from ..pipeline.router import Router\nfrom .query import _matching_rows\n"
    )
    (fake_pkg / "fake" / "handlers" / "query.py").write_text("from ..facade import FakeDataverse\n")
    (fake_pkg / "fake" / "pipeline" / "router.py").write_text("from ..adapters import server\n")
    (fake_pkg / "fake" / "adapters" / "server.py").write_text("import pytest\n")
    (fake_pkg / "fake" / "adapters" / "pytest_plugin.py").write_text(
        "import pytest\nfrom d365leads import client\n"
    )
    (fake_pkg / "fake" / "facade.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake_pkg)
    assert len(violations_for(fake_pkg / "odata" / "query.py")) == 2
    assert len(violations_for(fake_pkg / "fake" / "store.py")) == 3
    assert len(violations_for(fake_pkg / "cassette" / "model.py")) == 2
    assert len(violations_for(fake_pkg / "records.py")) == 4  # msal, client, cli (twice)
    assert violations_for(fake_pkg / "auth" / "msal.py") == []  # msal in auth.* only
    assert len(violations_for(fake_pkg / "authority.py")) == 1
    fake = fake_pkg / "fake"
    assert len(violations_for(fake / "core" / "fault.py")) == 1  # F0 -> F3
    assert len(violations_for(fake / "org" / "store.py")) == 1  # org -> wire
    assert len(violations_for(fake / "wire" / "messages.py")) == 1  # wire -> the store
    crud = fake / "handlers" / "crud.py"
    assert len(violations_for(crud)) == 1  # F2 -> F3
    assert len(private_handler_imports(crud)) == 1  # another handler's internals
    assert len(violations_for(fake / "handlers" / "query.py")) == 1  # F2 -> F5
    assert len(violations_for(fake / "pipeline" / "router.py")) == 1  # F3 -> F4
    assert len(violations_for(fake / "adapters" / "server.py")) == 1  # pytest outside the plugin
    assert len(violations_for(fake / "adapters" / "pytest_plugin.py")) == 1  # the client
    assert any(
        set(c) == {"d365leads.fake.org.store", "d365leads.fake.wire.messages"}
        for c in fake_cycles()
    )


def test_the_fetchxml_engine_stays_self_contained() -> None:
    engine = "d365leads.fake.fetchxml.engine"
    assert fake_violation(engine, "d365leads.fake.core.values") is not None
    assert fake_violation(engine, "d365leads.fake.fetchxml.parser") is None
    assert fake_violation("d365leads.fake.wire.serialize", engine) is not None
    assert fake_violation("d365leads.fake.handlers.fetch", engine) is None
    assert fake_violation("d365leads.fake.org.saved_views", "d365leads.fake.fetchxml") is None
