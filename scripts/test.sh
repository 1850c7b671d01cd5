#!/usr/bin/env bash
# Set up, then run the checks and the whole test suite (the README's test command; what CI runs).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not browser"` for the fast suite alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SOURCES="geo layers api cli synth tests bench"
.venv/bin/ruff check $SOURCES
.venv/bin/ruff format --check $SOURCES
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
