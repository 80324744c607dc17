#!/usr/bin/env bash
# Sets up (first run only) and runs Makerwatch on this machine: Mosquitto, InfluxDB
# and the ingest service, on their own ports with data in var/.
# Usage: scripts/up.sh [makerwatch up options], e.g. --mqtt-port 18830
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/makerwatch up --config "${MAKERWATCH_CONFIG:-makerspace.example.yaml}" "$@"
