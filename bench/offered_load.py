"""Ingest and its peers under a fixed offered rate: stored, drain, memory, CPU, latency.

    .venv/bin/python bench/offered_load.py [--rates 1000,3000,6000,10000,15000] [--seconds 30]
        [--systems ingest,node-red batched,node-red per message] [--repeat 1]

For each rate and system: a fresh Mosquitto and InfluxDB, the consumer as its own
process, and a publisher process sending QoS 1 telemetry of 1,000 boards at that
rate for the given time. The systems: `makerwatch ingest` (as deployed); Node-RED
4.1 (5.x needs Node 22) with node-red-contrib-influxdb, MQTT in -> function -> join of 1,000 (or 0.2 s)
-> influxdb batch, and the same with one influxdb write per message (installed
into .venv/node-red with npm on first use). Reported: readings stored of those
the broker acknowledged (counted in InfluxDB), how long after the publisher
stopped the last was stored, the consumer's peak RSS (the kernel's VmHWM), its CPU
seconds in all and after it was ready (its start is imports, the site, connecting),
that per reading acknowledged, and publish -> queryable latency of a marker reading published every
0.25 s and polled for in InfluxDB. Baseline, same run: a bare QoS 1 subscriber
(aiomqtt) counting what the broker delivers at that rate. With `--repeat N` the systems
run N times at each rate, in turn (a consumer's CPU moves by up to a tenth between runs
on a shared machine), every run is shown, and then each system's median CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_support import percentile, temporary_stack

from makerwatch.core.site_config import InfluxSettings
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import free_port

BOARDS = 1000
MARKER_EVERY_S = 0.25
NO_PROGRESS_S = 20.0  # a consumer storing nothing for this long has lost the rest
NODE_RED = Path(__file__).resolve().parent.parent / ".venv" / "node-red"
SYSTEMS = ("ingest", "node-red batched", "node-red per message")


def site_file(folder: Path, mqtt_port: int, influx_url: str) -> Path:
    devices = [{"id": f"dev-{i}", "name": f"Device {i}", "kind": "other"} for i in range(BOARDS)]
    devices.append({"id": "marker", "name": "Marker", "kind": "other"})
    config = {
        "site": {"id": "bench", "name": "Bench"},
        "devices": devices,
        "mqtt": {"port": mqtt_port, "client_id": "bench-ingest"},
        "influxdb": {"url": influx_url, "database": "bench"},
        "ingest": {"http_port": None, "spool_dir": str(folder / "spool")},
    }
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _publish_packet(topic: bytes, payload: bytes, mid: int) -> bytes:
    """An MQTT 3.1.1 PUBLISH at QoS 1."""
    body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + payload
    length, size = bytearray(), len(body)
    while True:
        size, digit = divmod(size, 128)
        length.append(digit | (0x80 if size else 0))
        if not size:
            return bytes([0x32]) + bytes(length) + body


def _count_pubacks(sock: socket.socket, count: list[int]) -> None:
    """Count the broker's PUBACKs (4 bytes each) until the connection closes."""
    held = b""
    while chunk := sock.recv(65536):
        held += chunk
        whole = len(held) // 4 * 4
        assert all(b == 0x40 for b in held[0:whole:4]), "only PUBACKs come back"
        count[0] += whole // 4
        held = held[whole:]


def publish_at(port: int, rate: float, seconds: float, acked: Any, elapsed: Any) -> None:
    """The load: telemetry of BOARDS boards at `rate` msg/s, QoS 1 (its own process).

    MQTT 3.1.1 as the boards speak it, packets written by hand on one connection: paho's
    client spends so much Python a message that one process could not offer 6,000 msg/s
    on this machine (it held a core at 100 % for about 3,000)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_id = b"bench-publisher"
    connect = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(client_id)) + client_id
    sock.sendall(bytes([0x10, len(connect)]) + connect)
    assert sock.recv(4)[:2] == b"\x20\x02", "CONNACK"
    count = [0]
    reader = threading.Thread(target=_count_pubacks, args=(sock, count), daemon=True)
    reader.start()
    started = time.monotonic()
    total = int(rate * seconds)
    start_ts = time.time() - 60
    burst = bytearray()
    for i in range(total):
        body = {"v": 1, "ts": round(start_ts + i / rate, 6), "seq": i, "power_w": 5.0 + i % 7}
        topic = f"makerspace/bench/dev-{i % BOARDS}/telemetry".encode()
        burst += _publish_packet(topic, json.dumps(body).encode(), i % 65535 + 1)
        if i % 200 == 199 or i == total - 1:
            sock.sendall(burst)
            burst.clear()
            ahead = started + (i + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # the offered rate
    deadline = time.monotonic() + 120
    while count[0] < total and time.monotonic() < deadline:
        time.sleep(0.05)  # the broker's PUBACKs still arriving
    elapsed.value = time.monotonic() - started  # until the broker acknowledged the last
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    acked.value = count[0]


def process_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of a running process."""
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return peak, cpu


async def count_stored(influx: InfluxClient) -> int:
    with contextlib.suppress(Exception):
        series = await influx.query("SELECT count(seq) FROM telemetry WHERE device != 'marker'")
        return int(series[0]["values"][0][1]) if series else 0
    return -1


async def markers(port: int, influx: InfluxClient, stop: asyncio.Event) -> list[float]:
    """Publish -> queryable, for one marker reading at a time."""
    latencies = []
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        seq = 0
        while not stop.is_set():
            seq += 1
            sent = time.monotonic()
            body = json.dumps({"v": 1, "seq": seq, "power_w": 1.0})
            await client.publish("makerspace/bench/marker/telemetry", body, qos=1)
            query = f"SELECT seq FROM telemetry WHERE device = 'marker' AND seq = {seq}"
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    if await influx.query(query):
                        latencies.append(time.monotonic() - sent)
                        break
                await asyncio.sleep(0.005)  # polling InfluxDB for the marker
            await asyncio.sleep(MARKER_EVERY_S)  # the marker's cadence
    return latencies


def start_ingest(
    folder: Path, mqtt_port: int, influx_url: str, log: Path
) -> subprocess.Popen[bytes]:
    config = site_file(folder, mqtt_port, influx_url)
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "makerwatch.cli", "ingest", "--config", str(config)],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip


# Node-RED, the usual way to do this without writing code: MQTT in (QoS 1, JSON), a
# function making the point, then either a join of 1,000 (or 0.2 s) into the
# influxdb batch node, or one influxdb write per message.
TO_POINT = """const p = msg.payload; const device = msg.topic.split("/")[2];
msg.payload = {measurement: "telemetry", fields: {seq: p.seq, power_w: p.power_w},
               tags: {device: device}, timestamp: p.ts ? new Date(p.ts * 1000) : new Date()};
return msg;"""
TO_FIELDS = """const p = msg.payload; msg.measurement = "telemetry";
msg.payload = [{seq: p.seq, power_w: p.power_w}, {device: msg.topic.split("/")[2]}];
return msg;"""


def node_red_flow(mqtt_port: int, influx_url: str, batched: bool) -> list[dict[str, Any]]:
    host, port = influx_url.removeprefix("http://").split(":")
    broker = {"id": "config-broker", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(mqtt_port),
              "clientid": "node-red", "usetls": False, "protocolVersion": "4", "keepalive": "60",
              "cleansession": False, "autoConnect": True}  # fmt: skip
    influx = {"id": "config-influx", "type": "influxdb", "hostname": host, "port": port,
              "database": "bench", "influxdbVersion": "1.x", "protocol": "http"}  # fmt: skip
    nodes: list[dict[str, Any]] = [
        {"id": "flow-bench", "type": "tab", "label": "bench"}, broker, influx,
        {"id": "node-in", "type": "mqtt in", "z": "flow-bench", "topic": "makerspace/bench/+/telemetry", "qos": "1",
         "datatype": "json", "broker": "config-broker", "wires": [["node-point"]]},
    ]  # fmt: skip
    if batched:
        nodes += [
            {"id": "node-point", "type": "function", "z": "flow-bench", "func": TO_POINT, "outputs": 1, "wires": [["node-join"]]},
            {"id": "node-join", "type": "join", "z": "flow-bench", "mode": "custom", "build": "array", "count": "1000",
             "timeout": "0.2", "property": "payload", "propertyType": "msg", "wires": [["node-out"]]},
            {"id": "node-out", "type": "influxdb batch", "z": "flow-bench", "influxdb": "config-influx", "precision": "ms", "wires": []},
        ]  # fmt: skip
    else:
        nodes += [
            {"id": "node-point", "type": "function", "z": "flow-bench", "func": TO_FIELDS, "outputs": 1, "wires": [["node-out"]]},
            {"id": "node-out", "type": "influxdb out", "z": "flow-bench", "influxdb": "config-influx", "measurement": "telemetry",
             "precision": "", "wires": []},
        ]  # fmt: skip
    return nodes


def start_node_red(folder: Path, mqtt_port: int, influx_url: str, log: Path, batched: bool) -> subprocess.Popen[bytes]:  # fmt: skip
    binary = NODE_RED / "node_modules" / ".bin" / "node-red"
    flows = folder / "flows.json"
    flows.write_text(json.dumps(node_red_flow(mqtt_port, influx_url, batched)))
    with log.open("wb") as sink:
        return subprocess.Popen(
            [str(binary), "--userDir", str(folder), "--port", str(free_port()), str(flows)],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip


def profiler(
    consumer: int, system: str, rate: float, folder: Path | None
) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the ingest process (its stacks, `-f raw`: one line a stack and its
    count, for flame graphs or grep), or None."""
    if folder is None or system != "ingest":
        return None
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"ingest-{rate:.0f}.txt"
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(consumer), "-r", "100", "--nonblocking",
         "-f", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def through(
    system: str, rate: float, seconds: float, profile: Path | None = None
) -> dict[str, object]:
    with temporary_stack() as (mq, ix), tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "consumer.log"
        sampling = None
        if system == "ingest":
            consumer, ready = start_ingest(Path(tmp), mq.port, ix.url, log), "subscribed to"
        else:
            batched = system == "node-red batched"
            consumer = start_node_red(Path(tmp), mq.port, ix.url, log, batched)
            ready = "Connected to broker"
        try:
            while ready not in log.read_text():  # noqa: ASYNC110 (a log file)
                await asyncio.sleep(0.05)  # the consumer starting
            # Its start (imports, the site, connecting) is in `cpu_s`, not in `load_cpu_s`.
            _, cpu_at_ready = process_stats(consumer.pid)
            sampling = profiler(consumer.pid, system, rate, profile)
            async with InfluxClient(InfluxSettings(url=ix.url, database="bench")) as influx:
                with contextlib.suppress(Exception):
                    await influx.ensure_database()
                acked, elapsed = multiprocessing.Value("q", 0), multiprocessing.Value("d", 0.0)
                publisher = multiprocessing.Process(
                    target=publish_at, args=(mq.port, rate, seconds, acked, elapsed)
                )
                stop = asyncio.Event()
                sampler = asyncio.create_task(markers(mq.port, influx, stop))
                publisher.start()
                await asyncio.to_thread(publisher.join)
                achieved = acked.value / elapsed.value
                stopped = time.monotonic()
                stop.set()
                latencies = await sampler
                stored, last, progress_at = -1, -2, stopped
                while stored != acked.value and time.monotonic() - progress_at < NO_PROGRESS_S:
                    stored = await count_stored(influx)
                    if stored != last:
                        last, progress_at = stored, time.monotonic()
                    await asyncio.sleep(0.05)  # polling until all stored, or no progress
                peak, cpu = process_stats(consumer.pid)
                return {
                    "system": system, "rate": rate, "achieved": achieved, "acked": acked.value,
                    "stored": stored, "drain_s": max(0.0, progress_at - stopped), "peak_mb": peak,
                    "cpu_s": cpu, "load_cpu_s": cpu - cpu_at_ready, "latencies": latencies,
                    "drops": "the broker dropped" in log.read_text(),
                }  # fmt: skip
        finally:
            if sampling is not None:
                sampling.send_signal(signal.SIGINT)  # py-spy writes its profile and ends
                sampling.wait(60)
            consumer.terminate()
            consumer.wait(30)


async def bare_subscriber(rate: float, seconds: float) -> tuple[int, int]:
    """(acknowledged by the broker, received by a bare QoS 1 subscriber) at this rate."""
    with temporary_stack() as (mq, _ix):
        received = 0
        ready = asyncio.Event()

        async def count() -> None:
            nonlocal received
            async with aiomqtt.Client("127.0.0.1", mq.port, protocol=aiomqtt.ProtocolVersion.V5) as client:  # fmt: skip
                await client.subscribe("makerspace/bench/+/telemetry", qos=1)
                ready.set()
                async for _ in client.messages:
                    received += 1

        counter = asyncio.create_task(count())
        await ready.wait()
        acked, elapsed = multiprocessing.Value("q", 0), multiprocessing.Value("d", 0.0)
        publisher = multiprocessing.Process(
            target=publish_at, args=(mq.port, rate, seconds, acked, elapsed)
        )
        publisher.start()
        await asyncio.to_thread(publisher.join)
        last, quiet_since = -1, time.monotonic()
        while received != acked.value and time.monotonic() - quiet_since < 10:
            if received != last:
                last, quiet_since = received, time.monotonic()
            await asyncio.sleep(0.05)  # until all arrived, or nothing for 10 s
        counter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await counter
        return int(acked.value), received


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="1000,3000,6000,10000,15000")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"of {', '.join(SYSTEMS)} (Node-RED is installed with npm on first use)")  # fmt: skip
    parser.add_argument(
        "--profile", type=Path, help="folder for py-spy profiles of ingest at each rate"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each system at each rate, in turn"
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    systems = args.systems.split(",")
    if any(s.startswith("node-red") for s in systems):
        install_node_red()
    print(f"command: python bench/offered_load.py --rates {args.rates} --seconds {args.seconds:g} --systems {args.systems} --repeat {args.repeat}")  # fmt: skip
    print("| offered msg/s | system | achieved | stored of acknowledged | drain | peak RSS | CPU | of it after ready | µs a reading | latency p50 / p99 |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for rate in rates:
        base_acked, base_received = await bare_subscriber(rate, args.seconds)
        print(f"| {rate:,.0f} | bare QoS 1 subscriber | | {base_received / base_acked:.1%} of {base_acked:,} | | | | | | |", flush=True)  # fmt: skip
        cpu: dict[str, list[float]] = {system: [] for system in systems}
        for system in [s for _ in range(args.repeat) for s in systems]:
            r = await through(system, rate, args.seconds, args.profile)
            cpu[system].append(r["cpu_s"])  # type: ignore[arg-type]
            lat: list[float] = r["latencies"]  # type: ignore[assignment]
            latency = (
                f"{percentile(lat, 50) * 1000:.0f} / {percentile(lat, 99) * 1000:.0f} ms"
                if lat
                else "-"
            )
            stored = f"{r['stored'] / r['acked']:.1%} of {r['acked']:,}" + (
                " (broker drops)" if r["drops"] else ""
            )  # type: ignore[operator]
            print(
                f"| {rate:,.0f} | {system} | {r['achieved']:,.0f} | {stored} | {r['drain_s']:.1f} s "
                f"| {r['peak_mb']:.0f} MB | {r['cpu_s']:.1f} s | {r['load_cpu_s']:.1f} s "
                f"| {r['load_cpu_s'] / r['acked'] * 1e6:.0f} | {latency} |",
                flush=True,
            )  # fmt: skip
        if args.repeat > 1:
            for system, runs in cpu.items():
                shown = ", ".join(f"{c:.1f}" for c in runs)
                print(f"| {rate:,.0f} | {system}: median of {len(runs)} | | | | | {statistics.median(runs):.1f} s ({shown}) | | | |", flush=True)  # fmt: skip


def install_node_red() -> None:
    if not (NODE_RED / "node_modules" / ".bin" / "node-red").exists():
        NODE_RED.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(NODE_RED), "--no-audit", "--no-fund",
             "node-red@4.1.15", "node-red-contrib-influxdb@0.7.0"],
            check=True, capture_output=True,
        )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
