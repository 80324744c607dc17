"""What `makerwatch up` holds at rest: the ingest process's resident memory with the
example site, without and with its simulated machines, and the cost of a simulated board.

    .venv/bin/python bench/footprint.py [--config makerspace.example.yaml] [--settle 20]

Each run starts `makerwatch up` as a process (its own Mosquitto and InfluxDB on free
ports, data in a temporary folder), waits for /health, lets it settle, then reads the
ingest process's /proc status: VmRSS (resident, shared library pages included) and
Private_Dirty from smaps_rollup (what this process alone holds). Mosquitto's and
InfluxDB's own memory are not counted here.
Baseline in the same run: a bare Python interpreter that has imported asyncio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from makerwatch.core.site_config import load_site_config
from makerwatch.ops.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent


def memory_kb(pid: int) -> tuple[int, int]:
    """(resident, private dirty) of a process, in kB."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    rollup = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    )
    return int(status["VmRSS"].split()[0]), int(rollup["Private_Dirty"].split()[0])


def settled(command: list[str], settle_s: float, health: str | None) -> tuple[int, int]:
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 120
            while health is not None:
                try:
                    urllib.request.urlopen(health, timeout=1)
                    break
                except urllib.error.HTTPError:  # answering: unhealthy while nothing arrives
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        log.seek(0)
                        tail = log.read().decode(errors="replace").splitlines()[-5:]
                        raise SystemExit(
                            f"{' '.join(command)}: no /health in 120 s: {tail}"
                        ) from None
                    time.sleep(0.2)
            time.sleep(settle_s)
            return memory_kb(process.pid)
        finally:
            process.terminate()
            process.wait(60)


def up(config: Path, settle_s: float, *extra: str) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        http = free_port()
        command = [sys.executable, "-m", "makerwatch.cli", "up", "--config", str(config),
                   "--data", tmp, "--mqtt", f"127.0.0.1:{free_port()}",
                   "--influx", f"http://127.0.0.1:{free_port()}",
                   "--http", f"127.0.0.1:{http}", *extra]  # fmt: skip
        return settled(command, settle_s, f"http://127.0.0.1:{http}/health")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "makerspace.example.yaml")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds after /health")
    args = parser.parse_args()
    boards = len(load_site_config(args.config).devices)
    print(
        f"command: python bench/footprint.py --config {args.config.name} --settle {args.settle:g}"
    )
    rows = [
        ("baseline  python, asyncio imported", settled(
            [sys.executable, "-c", "import asyncio, time; time.sleep(600)"], 2.0, None)),
        ("ingest    up --no-sim (at rest)", up(args.config, args.settle, "--no-sim")),
        (f"up        {boards} simulated boards", up(args.config, args.settle)),
    ]  # fmt: skip
    for label, (rss, private) in rows:
        print(f"{label:<40} {rss / 1024:6.1f} MB resident  {private / 1024:6.1f} MB private")
    per_board = (rows[2][1][0] - rows[1][1][0]) / boards / 1024
    print(f"a simulated board: {per_board:.2f} MB resident each (bound: 1 MB)")


if __name__ == "__main__":
    main()
