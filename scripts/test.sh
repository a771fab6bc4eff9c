#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then lints, type-checks and tests.
#   bash scripts/test.sh [pytest arguments]
# Python packages go into .venv (unless a virtual environment is already active); the pinned npm packages
# (solc, OpenZeppelin, Solady, anvil) into contracts/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${VIRTUAL_ENV:-}" ]]; then
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    # shellcheck disable=SC1091
    source .venv/bin/activate
fi
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
npm ci --prefix contracts --no-audit --no-fund --silent

ruff check .
ruff format --check .
mypy
python -m pytest "$@"
