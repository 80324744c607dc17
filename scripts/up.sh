#!/usr/bin/env bash
# Sets up (first run only) and runs Makerwatch on this machine: Mosquitto, InfluxDB
# and the ingest service, on their own ports with data in var/.
# Usage: scripts/up.sh [makerwatch up options], e.g. --mqtt 127.0.0.1:18830
# Another site file: MAKERWATCH_CONFIG=mysite.yaml scripts/up.sh (relative to here).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
config="$(realpath -m "${MAKERWATCH_CONFIG:-$repo/makerspace.example.yaml}")"
cd "$repo"
scripts/setup.sh
exec .venv/bin/makerwatch up --config "$config" "$@"
