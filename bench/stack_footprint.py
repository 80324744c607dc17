"""The site stack's footprint (bench/footprint.py --parts stack): Mosquitto, InfluxDB and
ingest, at rest and with 30 simulated boards, beside Node-RED and InfluxDB doing the same."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from offered_load import install_node_red, start_node_red

from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port

__all__ = ["print_stack"]

BOARDS = 30
SITE = "bench"  # the site Node-RED's flow (bench/offered_load.py) subscribes to
STARTED_WITHIN_S = 120
SETTLE_S = 10  # after the consumer subscribed, before the rest window
DAY_S = 86_400

Usage = dict[str, tuple[int, float, int]]  # process -> (resident kB, CPU s, bytes written)


def usage(pid: int) -> tuple[int, float, int]:
    """(resident kB, CPU seconds, bytes written to disk) of a process so far."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return rss, cpu, int(io["write_bytes"])


def snapshot(pids: dict[str, int]) -> Usage:
    return {name: usage(pid) for name, pid in pids.items()}


def site_file(folder: Path, mqtt_port: int, influx_url: str) -> Path:
    from footprint import fleet_config  # the same 30 machines the boards simulate

    devices = [device.model_dump(mode="json", exclude_defaults=True)
               for device in fleet_config(BOARDS, SITE).devices]  # fmt: skip
    config = {
        "site": {"id": SITE, "name": "Bench"},
        "devices": devices,
        "mqtt": {"port": mqtt_port, "client_id": "bench-ingest"},
        "influxdb": {"url": influx_url, "database": SITE},
        "ingest": {"http_port": free_port(), "spool_dir": str(folder / "spool")},
    }
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def start_consumer(system: str, folder: Path, mq: EmbeddedMosquitto, ix: EmbeddedInfluxDB,
                   log: Path) -> tuple[subprocess.Popen[bytes], str]:  # fmt: skip
    if system == "ingest":
        config = site_file(folder, mq.port, ix.url)
        command = [sys.executable, "-m", "makerwatch.cli", "ingest", "--config", str(config)]
        with log.open("wb") as sink:
            return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT), "subscribed to"
    httpx.post(f"{ix.url}/query", data={"q": f"CREATE DATABASE {SITE}"}, timeout=10)
    return start_node_red(folder, mq.port, ix.url, log, batched=True), "Connected to broker"


def readings_stored(ix: EmbeddedInfluxDB) -> int:
    answer = httpx.get(f"{ix.url}/query", timeout=30,
                       params={"db": SITE, "q": "SELECT count(power_w) FROM telemetry"}).json()  # fmt: skip
    series = answer["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def measure(system: str, rest_s: float, load_s: float) -> tuple[Usage, Usage, Usage, int]:
    """(at the start of rest, at its end, at the end of the load) and the readings stored."""
    root = Path(__file__).resolve().parent
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedMosquitto(free_port(), Path(tmp) / "mq") as mq,
        EmbeddedInfluxDB(free_port(), Path(tmp) / "ix") as ix,
    ):
        log = Path(tmp) / "consumer.log"
        consumer, ready = start_consumer(system, Path(tmp), mq, ix, log)
        boards = None
        try:
            deadline = time.monotonic() + STARTED_WITHIN_S
            while ready not in log.read_text(errors="replace"):
                if time.monotonic() > deadline or consumer.poll() is not None:
                    raise SystemExit(f"{system} did not start: {log.read_text()[-500:]}")
                time.sleep(0.2)  # the consumer starting
            assert mq.pid is not None
            assert ix.pid is not None
            pids = {"mosquitto": mq.pid, "influxdb": ix.pid, system: consumer.pid}
            time.sleep(SETTLE_S)
            rest = snapshot(pids)
            time.sleep(rest_s)  # the rest window
            rested = snapshot(pids)
            boards = subprocess.Popen(
                [sys.executable, str(root / "footprint.py"), "--run-fleet", str(BOARDS),
                 "--mqtt-port", str(mq.port), "--site", SITE],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(load_s)  # the loaded window
            loaded = snapshot(pids)
            return rest, rested, loaded, readings_stored(ix)
        finally:
            if boards is not None:
                boards.terminate()
                boards.wait(60)
            consumer.terminate()
            consumer.wait(60)


def print_stack(rest_s: float, load_s: float) -> None:
    install_node_red()
    print(f"the site stack: {rest_s:g} s at rest, then {BOARDS} simulated boards for "
          f"{load_s / 60:g} min (the demo scenario in real time)")  # fmt: skip
    print("| system | process | resident at rest | CPU at rest | resident with 30 boards "
          "| CPU with 30 boards | disk written a day with 30 boards |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for system in ("ingest", "node-red batched"):
        rest, rested, loaded, stored = measure(system, rest_s, load_s)
        for name in rest:
            cpu_rest = rested[name][1] - rest[name][1]
            cpu_load = loaded[name][1] - rested[name][1]
            per_day = (loaded[name][2] - rested[name][2]) * DAY_S / load_s
            print(f"| {system} | {name} | {rested[name][0] / 1024:.1f} MB | {cpu_rest:.1f} s "
                  f"| {loaded[name][0] / 1024:.1f} MB | {cpu_load:.1f} s "
                  f"| {per_day / 2**20:.0f} MB |", flush=True)  # fmt: skip
        total = sum(loaded[name][0] for name in loaded) / 1024
        print(f"| {system} | all three | | | {total:.1f} MB | | ({stored} readings stored) |")
