#!/usr/bin/env bash
# Installs what Makerwatch needs on Debian 12 / Ubuntu: the system's Mosquitto and
# InfluxDB, and a virtualenv in .venv with the pinned Python packages.
# Usage: scripts/setup.sh [EXTRAS], e.g. scripts/setup.sh '[dev]' for the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=${1:-}
# Pango and a font with Kazakh letters: WeasyPrint draws the sponsor report's PDF.
packages=(mosquitto mosquitto-clients influxdb influxdb-client libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
if [ -n "$extras" ]; then
  # The tests run the firmware core under MicroPython's WebAssembly port, on Node; read
  # the report's PDF back with poppler; drive pages in Debian's Chromium.
  command -v npm >/dev/null || packages+=(nodejs npm)
  packages+=(poppler-utils chromium)
fi
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# Reinstall only when the pinned dependencies change.
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)${extras//[^a-z]/}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi

if [ -n "$extras" ]; then
  npm_stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
  if [ ! -f "$npm_stamp" ]; then
    echo "setup: installing npm packages (MicroPython for the firmware tests)"
    npm ci --no-audit --no-fund --loglevel=error
    touch "$npm_stamp"
  fi
fi
