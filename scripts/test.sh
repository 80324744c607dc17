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
# The firmware against MicroPython's ESP32 stubs: only those stubs on MYPYPATH (the
# rest of site-packages would shadow them), copied once from the installed packages.
stubs=.venv/micropython-stubs
if [ ! -f "$stubs/machine.pyi" ]; then
  python - "$stubs" <<'PY'
import shutil, sys
from importlib.metadata import distribution
from pathlib import Path
out = Path(sys.argv[1])
for name in ("micropython-esp32-stubs", "micropython-stdlib-stubs"):
    dist = distribution(name)
    for file in dist.files or []:
        if file.suffix == ".pyi" and not str(file).startswith("stdlib/"):
            (out / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(dist.locate_file(file), out / file)
PY
fi
echo "== mypy (firmware, MicroPython ESP32 stubs)"; MYPYPATH="$stubs" mypy --config-file firmware/mypy.ini firmware
# Three workers on two cores: most of a test's time is real daemons starting and
# answering (two workers kept the cores 60 % busy: 119 % of 200 %; three 157 %, and the
# suite took 710 s instead of 870 s). Work stealing: the long tests do not end the run alone.
echo "== pytest"; pytest -n 3 --dist worksteal "$@"
