#!/usr/bin/env bash
# Set up, then run the demo on the embedded store (generate, ingest, build, serve).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/riskmap demo "$@"
