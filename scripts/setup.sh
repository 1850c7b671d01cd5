#!/usr/bin/env bash
# Set up a development environment: system packages (as root, when missing) and a virtualenv in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES="chromium gdal-bin fonts-wqy-zenhei python3-qgis postgresql postgresql-15-postgis-3"
missing=""
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "installing system packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "note: system packages missing:$missing (install them with apt-get as root)" >&2
  fi
fi
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
