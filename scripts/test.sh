#!/usr/bin/env bash
# Sets up (first run only) and runs every check: ruff, mypy (strict) and the whole
# pytest suite against real Mosquitto and InfluxDB processes started by the fixtures.
# Extra arguments go to pytest, e.g. scripts/test.sh -k line_protocol
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh '[dev,board]'
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
# Two workers on two cores: most of a test's time is real daemons starting and answering.
echo "== pytest"; pytest -n auto "$@"
