#!/usr/bin/env bash
# Set up, then run the whole test suite (the README's test command).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check geo layers api cli tests
.venv/bin/python -m pytest -q "$@"
