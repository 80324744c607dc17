"""What `makerwatch up` holds at rest: the ingest process's resident memory with the
example site, without and with its simulated machines, and the cost of a simulated board
in fleets of 10, 100 and 1,000.

    .venv/bin/python bench/footprint.py [--config makerspace.example.yaml] [--settle 20]
                                        [--fleets 10,100,1000] [--minutes 10] [--rest 60]
                                        [--parts up,fleets,stack]

Each run starts `makerwatch up` as a process (its own Mosquitto and InfluxDB on free
ports, data in a temporary folder), waits for /health, lets it settle, then reads the
ingest process's /proc status: VmRSS (resident, shared library pages included) and
Private_Dirty from smaps_rollup (what this process alone holds). Mosquitto's and
InfluxDB's own memory are not counted here.
Baseline in the same run: a bare Python interpreter that has imported asyncio.

The fleets: one process runs the demo scenario in real time for N boards of a generated
site (every machine kind in turn), each board with its own MQTT connection, client id
and last will, against a Mosquitto of its own; read `--settle` seconds after every
board is connected. Its baseline is the same process with one board; a board's cost
is the difference divided by the boards added.

The site stack: Mosquitto, InfluxDB and `makerwatch ingest` (HTTP API and spool on) with
a site of 30 machines, first at rest (`--rest` seconds), then with 30 simulated boards
(the demo scenario in real time: a reading every 10 s each, their state changes and
statuses) for `--minutes`. For each process: resident memory at the end, CPU seconds
in each window, and what it wrote to disk (/proc/PID/io write_bytes) per day,
extrapolated from the loaded window: InfluxDB's (WAL and shards) and ingest's (its
spool and stamps). Beside it, the same for Node-RED and InfluxDB, with the flow
bench/offered_load.py installs (MQTT in -> function -> join -> influxdb batch) on the
same broker and boards.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from makerwatch.core.site_config import MachineKind, SiteConfig, load_site_config
from makerwatch.ops.embedded import EmbeddedMosquitto, free_port

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


def sockets(pid: int) -> int:
    """How many sockets a process holds open."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed since it was listed
            count += os.readlink(fd).startswith("socket:")
    return count


def fleet_config(boards: int, site: str = "fleet") -> SiteConfig:
    kinds = itertools.cycle(MachineKind)
    return SiteConfig.model_validate({
        "site": {"id": site, "name": "Fleet"},
        "devices": [{"id": f"sim-{i + 1:04d}", "name": f"sim {i + 1}", "kind": next(kinds)}
                    for i in range(boards)],
    })  # fmt: skip


def run_fleet(boards: int, mqtt_port: int, site: str = "fleet") -> None:
    """The child process of a fleet measurement: the demo for `boards` boards until killed."""
    import threading

    from makerwatch.sim.commands import run_scenario

    config = fleet_config(boards, site)
    run_scenario(config, "demo", 1.0, 1, "127.0.0.1", mqtt_port, threading.Event())


def fleet(boards: int, mqtt_port: int, settle_s: float) -> tuple[int, int]:
    """(resident, private) kB of a process simulating `boards` boards, once all are connected."""
    command = [sys.executable, __file__, "--run-fleet", str(boards), "--mqtt-port", str(mqtt_port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while sockets(process.pid) < boards + 1:  # a connection per board and the simulation's
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"{boards} simulated boards did not all connect in 300 s")
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
    parser.add_argument("--fleets", default="10,100,1000", help="board counts, comma-separated")
    parser.add_argument("--minutes", type=float, default=10.0, help="the stack under 30 boards")
    parser.add_argument("--rest", type=float, default=60.0, help="seconds of the stack at rest")
    parser.add_argument("--parts", default="up,fleets,stack", help="which measurements")
    parser.add_argument("--run-fleet", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--site", default="fleet", help=argparse.SUPPRESS)
    parser.add_argument("--mqtt-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_fleet is not None:
        run_fleet(args.run_fleet, args.mqtt_port, args.site)
        return
    parts = args.parts.split(",")
    fleets = [int(n) for n in args.fleets.split(",") if n]
    print(
        f"command: python bench/footprint.py --config {args.config.name} --settle {args.settle:g}"
        f" --fleets {','.join(map(str, fleets))} --minutes {args.minutes:g} --rest {args.rest:g}"
        f" --parts {args.parts}"
    )
    if "up" in parts:
        print_up(args.config, args.settle)
    if "fleets" in parts and fleets:
        print_fleets(fleets, args.settle)
    if "stack" in parts:
        from stack_footprint import print_stack

        print_stack(args.rest, args.minutes * 60)


def print_up(config: Path, settle_s: float) -> None:
    boards = len(load_site_config(config).devices)
    rows = [
        ("baseline  python, asyncio imported", settled(
            [sys.executable, "-c", "import asyncio, time; time.sleep(600)"], 2.0, None)),
        ("ingest    up --no-sim (at rest)", up(config, settle_s, "--no-sim")),
        (f"up        {boards} simulated boards", up(config, settle_s)),
    ]  # fmt: skip
    for label, (rss, private) in rows:
        print(f"{label:<40} {rss / 1024:6.1f} MB resident  {private / 1024:6.1f} MB private")
    per_board = (rows[2][1][0] - rows[1][1][0]) / boards / 1024
    print(f"a simulated board in up: {per_board:.2f} MB resident each (bound: 1 MB)")
    print(f"ingest at rest: {rows[1][1][0] / 1024:.1f} MB resident (bound: 60 MB)")


def print_fleets(fleets: list[int], settle_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedMosquitto(free_port(), Path(tmp)) as mq:
        base_rss, base_private = fleet(1, mq.port, settle_s)
        print(f"{'fleet     1 board (baseline)':<40} {base_rss / 1024:6.1f} MB resident  "
              f"{base_private / 1024:6.1f} MB private")  # fmt: skip
        for boards in fleets:
            rss, private = fleet(boards, mq.port, settle_s)
            each = (rss - base_rss) / (boards - 1) / 1024
            print(f"{f'fleet  {boards:>4} boards, one process':<40} {rss / 1024:6.1f} MB resident  "
                  f"{private / 1024:6.1f} MB private  {each:.3f} MB a board (bound: 1 MB)")  # fmt: skip


if __name__ == "__main__":
    main()
