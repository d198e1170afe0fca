"""The shape of the package: no import circle between its modules, and no module over 500 lines.

Imports are read with ``ast`` by the helpers of ``tests/test_layering.py`` (relative imports
resolved, ``from package import submodule`` counted as importing the submodule). Every import
counts, including those under ``if TYPE_CHECKING:`` and inside functions: a circle that only
runs late is still a circle a reader has to untangle.

Importing ``a.b.c`` also runs the package ``a.b``'s ``__init__``, but that is not counted as an
edge: a package re-exporting its submodules, whose submodules import each other by their full
path, is a tree, not a circle.
"""

from __future__ import annotations

import itertools
import sys
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import pytest
import test_layering
from test_layering import imports_of, module_name, package_files

MAX_LINES = 500

Graph = Mapping[str, Mapping[str, int]]
"""module -> {module it imports: line of the first such import}."""


def module_graph() -> Graph:
    """The import graph between the package's own modules."""
    files = {module_name(path): path for path in package_files()}
    graph: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        edges: dict[str, int] = {}
        for target, line in imports_of(path):
            # "from d365leads.batch import BatchRequest" names the module d365leads.batch.
            found = target
            while found and found not in files:
                found = found.rpartition(".")[0]
            if found and found != name:
                edges.setdefault(found, line)
        graph[name] = edges
    return graph


def import_circles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return sorted(circles)


def circle_path(graph: Graph, component: list[str]) -> list[str]:
    """One concrete circle through the component's first module (shortest, by BFS)."""
    start = component[0]
    members = set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child in members and child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{component} is not a circle")  # pragma: no cover


def describe_circle(graph: Graph, component: list[str]) -> str:
    path = circle_path(graph, component)
    steps = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(path))
    steps += f" -> {path[-1]}"
    return f"import circle {steps} (its component: {', '.join(component)})"


def circle_violations(graph: Graph, exempt: frozenset[str] = frozenset()) -> list[str]:
    """One message per circle, unless every module in it is exempt."""
    return [
        describe_circle(graph, component)
        for component in import_circles(graph)
        if not set(component) <= exempt
    ]


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def size_violations(exempt: frozenset[str] = frozenset()) -> list[str]:
    """One message per module over :data:`MAX_LINES` lines, unless exempt."""
    problems = []
    for path in package_files():
        name = module_name(path)
        lines = line_count(path)
        if lines > MAX_LINES and name not in exempt:
            problems.append(
                f"{name} has {lines} lines (limit {MAX_LINES}): split it by concept, "
                "keeping its public import path"
            )
    return problems


def test_no_import_circle_between_modules() -> None:
    problems = circle_violations(module_graph())
    assert problems == [], "\n".join(problems)


def test_no_module_over_the_line_limit() -> None:
    problems = size_violations()
    assert problems == [], "\n".join(problems)


def test_the_checker_catches_a_circle_and_an_oversize_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "d365leads"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from d365leads.sub import b as b\n")
    (pkg / "sub" / "__init__.py").write_text("from .b import thing\n")
    (pkg / "a.py").write_text("import os\n\nfrom d365leads.sub.b import thing\n")
    (pkg / "sub" / "b.py").write_text("def thing():\n    from . import c\n")
    (pkg / "sub" / "c.py").write_text("from ..a import os\n")
    # A tree through a package __init__ is no circle.
    (pkg / "tree.py").write_text("from d365leads.sub import c\n")
    (pkg / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (pkg / "fits.py").write_text("x = 1\n" * MAX_LINES)
    monkeypatch.setattr(test_layering, "PACKAGE", pkg)
    assert sys.modules["test_layering"] is test_layering

    graph = module_graph()
    assert import_circles(graph) == [["d365leads.a", "d365leads.sub.b", "d365leads.sub.c"]]
    [message] = circle_violations(graph)
    assert message == (
        "import circle d365leads.a (line 3) -> d365leads.sub.b (line 2) -> d365leads.sub.c "
        "(line 1) -> d365leads.a (its component: d365leads.a, d365leads.sub.b, d365leads.sub.c)"
    )
    # Exempting only part of a circle does not hide it; exempting all of it does.
    assert len(circle_violations(graph, frozenset({"d365leads.a"}))) == 1
    assert circle_violations(graph, frozenset(import_circles(graph)[0])) == []

    assert size_violations() == [
        f"d365leads.big has {MAX_LINES + 1} lines (limit {MAX_LINES}): split it by concept, "
        "keeping its public import path"
    ]
    assert size_violations(frozenset({"d365leads.big"})) == []
