#!/usr/bin/env bash
# Install what the tests need, start the services they use, and run the whole suite:
# ruff (lint + format check), mypy --strict on the package, the cassette secret scan, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
VENV="${D365LEADS_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[test,peers]'
export PATH="$PWD/$VENV/bin:$PATH"

# Everything started or created below is removed on exit.
PG_STARTED=""
PKG_TMP=""
cleanup() {
    if [ -n "$PG_STARTED" ]; then bash scripts/pg-test-server.sh stop >/dev/null 2>&1 || true; fi
    if [ -n "$PKG_TMP" ]; then rm -rf "$PKG_TMP"; fi
}
trap cleanup EXIT

# PostgreSQL for the sync tests: a throwaway server, stopped on exit.
if [ -z "${D365LEADS_TEST_PG_URL:-}" ]; then
    if PG_URL="$(bash scripts/pg-test-server.sh start)"; then
        export D365LEADS_TEST_PG_URL="$PG_URL"
        PG_STARTED=1
    else
        echo "warning: could not start PostgreSQL; the PostgreSQL sync tests will skip (fail under CI=true)" >&2
    fi
fi

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy (strict)"
mypy
echo "== cassette scan"
if [ -d tests/cassettes ]; then
    d365leads cassette scan tests/cassettes
fi
echo "== pytest"
pytest -q "$@"

# The package as users get it: sdist and wheel build, twine accepts their metadata, and the wheel
# alone (no source tree, no test extras, so no pandas) installs into a fresh venv and runs the demo.
if [ "${D365LEADS_SKIP_PACKAGE:-}" != "1" ]; then
    echo "== package: build, twine check, install the wheel into a fresh venv, d365leads demo"
    PKG_TOOLS="${D365LEADS_PKG_VENV:-.venv-pkg}"
    if [ ! -x "$PKG_TOOLS/bin/python" ]; then
        "$PY" -m venv "$PKG_TOOLS"
    fi
    "$PKG_TOOLS/bin/python" -m pip install -q --upgrade pip "build>=1.2" "twine>=5.1" "setuptools>=77"
    PKG_TMP="$(mktemp -d)"
    # --no-isolation: the build backend comes from the tools venv above, not a new download
    # per run; the wheel is still built from the sdist, which proves the sdist is complete.
    "$PKG_TOOLS/bin/python" -m build --no-isolation --outdir "$PKG_TMP/dist" . >"$PKG_TMP/build.log" 2>&1 \
        || { cat "$PKG_TMP/build.log" >&2; exit 1; }
    "$PKG_TOOLS/bin/python" -m twine check --strict "$PKG_TMP"/dist/*
    "$PY" -m venv "$PKG_TMP/venv"
    "$PKG_TMP/venv/bin/python" -m pip install -q "$PKG_TMP"/dist/*.whl
    (
        cd "$PKG_TMP"
        venv/bin/d365leads --version
        venv/bin/d365leads demo --fast --no-color --workdir "$PKG_TMP/demo" >"$PKG_TMP/demo.log" 2>&1 \
            || { cat "$PKG_TMP/demo.log" >&2; exit 1; }
        venv/bin/python -c "import sys, d365leads.cli.app; assert 'pandas' not in sys.modules"
    )
    echo "package ok: $(cd "$PKG_TMP/dist" && ls)"
fi

# The lower bounds in pyproject.toml, proven: the suite again with the oldest supported versions.
if [ "${D365LEADS_SKIP_MIN_VERSIONS:-}" != "1" ]; then
    echo "== pytest with the minimum supported versions (.ci/min-versions.txt)"
    MIN_VENV="${D365LEADS_MIN_VENV:-.venv-min}"
    if [ ! -x "$MIN_VENV/bin/python" ]; then
        "$PY" -m venv "$MIN_VENV"
    fi
    "$MIN_VENV/bin/python" -m pip install -q --upgrade pip
    "$MIN_VENV/bin/python" -m pip install -q -r .ci/min-versions.txt
    "$MIN_VENV/bin/python" -m pip install -q --no-deps -e .
    "$MIN_VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
fi
