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

# PostgreSQL for the sync tests: a throwaway server, stopped on exit.
if [ -z "${D365LEADS_TEST_PG_URL:-}" ]; then
    if PG_URL="$(bash scripts/pg-test-server.sh start)"; then
        export D365LEADS_TEST_PG_URL="$PG_URL"
        trap 'bash scripts/pg-test-server.sh stop >/dev/null 2>&1 || true' EXIT
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
