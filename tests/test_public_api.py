"""The public surface: sorted, complete ``__all__`` lists that name real objects."""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

import pytest

import d365leads


def isort_key(name: str) -> tuple[int, list[object]]:
    """The order ruff's RUF022 wants: CONSTANTS, then Classes, then the rest, naturally."""
    if len(name) > 1 and name.isupper():
        category = 0
    elif name[:1].isupper():
        category = 1
    else:
        category = 2
    natural = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]
    return category, natural


def public_modules() -> list[str]:
    names = ["d365leads"]
    for info in pkgutil.walk_packages(d365leads.__path__, prefix="d365leads."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]):
            continue
        names.append(info.name)
    return sorted(names)


def test_top_level_all_is_sorted_unique_and_importable() -> None:
    names = d365leads.__all__
    assert names == sorted(names, key=isort_key)
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(d365leads, name) is not None
    for core in (
        "DataverseClient",
        "Query",
        "col",
        "StaticTokenProvider",
        "TokenProvider",
        "Settings",
        "RecordsAPI",
        "DataverseError",
        "ThrottledError",
        "__version__",
    ):
        assert core in names


def test_every_error_class_is_exported() -> None:
    from d365leads import errors

    for name in errors.__all__:
        if isinstance(getattr(errors, name), type):
            assert name in d365leads.__all__, f"{name} is not exported from d365leads"


@pytest.mark.parametrize("module_name", public_modules())
def test_every_public_module_has_a_sorted_all(module_name: str) -> None:
    module: ModuleType = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    assert list(exported) == sorted(exported, key=isort_key), f"{module_name}.__all__ unsorted"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"


def test_docstrings_on_public_objects_of_the_client_foundation() -> None:
    modules = [
        "d365leads.auth",
        "d365leads.auth.certificate",
        "d365leads.auth.token_cache",
        "d365leads.auth.tokens",
        "d365leads.client",
        "d365leads.config",
        "d365leads.http.pipeline",
        "d365leads.http.retry",
        "d365leads.http.throttle",
        "d365leads.http.transport",
        "d365leads.odata.literals",
        "d365leads.odata.query",
        "d365leads.records",
        "d365leads.redaction",
    ]
    missing = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        assert module.__doc__, module_name
        for name in module.__all__:
            obj = getattr(module, name)
            own = callable(obj) and getattr(obj, "__module__", None) == module_name
            if own and not (obj.__doc__ or "").strip():
                missing.append(f"{module_name}.{name}")
    assert missing == []
