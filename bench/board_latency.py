"""The floor board under a site's load: 200 machines each sending a reading every 5 s,
50 open pages.

    .venv/bin/python bench/board_latency.py [--machines 200] [--pages 50] [--seconds 120]

`makerwatch ingest` runs as its own process against a real Mosquitto and InfluxDB. The
pages are 49 server-sent event streams (each from its own loopback address, as 49
devices on the Wi-Fi would be) plus one real Chromium page. Every reading carries a
unique power value; the time from its publish to its tile event on each stream is
the latency. Peer in the same run: a bare MQTT subscriber receiving the same
readings (the floor cannot beat the broker). Also: the ingest process's CPU and
peak RSS, and the Chromium page's JavaScript heap at the start and the end of the
run (a leak would grow it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import aiomqtt
import yaml
from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_support import percentile, temporary_stack

from makerwatch.ops.embedded import free_port

PERIOD_S = 5.0
SITE = "bench"


def site_file(path: Path, machines: int, mqtt_port: int, influx_url: str, http_port: int) -> None:
    kinds = ["soldering_station", "printer_3d", "laser_cutter", "cnc_router", "sewing_machine"]
    config = {
        "site": {"id": SITE, "name": "Bench space"},
        "devices": [{"id": f"m-{i:03d}", "name": f"Machine {i}", "kind": kinds[i % len(kinds)],
                     "telemetry_period_s": PERIOD_S} for i in range(machines)],
        "mqtt": {"port": mqtt_port, "client_id": "bench-board"},
        "influxdb": {"url": influx_url, "database": "board"},
        "ingest": {"http_host": "127.0.0.1", "http_port": http_port, "spool_dir": None},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))


def process_usage(pid: int) -> tuple[float, float]:
    """CPU seconds so far and peak RSS (MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return cpu_s, peak_kb / 1024


async def stream(url: str, address: str, seen: dict[tuple[str, float], list[float]],
                 ready: asyncio.Event, count: list[int]) -> None:  # fmt: skip
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    timeout = aiohttp.ClientTimeout(None)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.get(url + "/board-events") as response,
    ):
        event = ""
        count[0] += 1
        if count[0] == count[1]:
            ready.set()
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "tile":
                tile = json.loads(line[6:])
                if tile["power_w"] is not None:
                    seen.setdefault((tile["device"], tile["power_w"]), []).append(time.time())


async def run(args: argparse.Namespace) -> None:
    with temporary_stack() as (mosquitto, influxdb), tempfile.TemporaryDirectory() as tmp:
        http_port = free_port()
        config = Path(tmp) / "site.yaml"
        site_file(config, args.machines, mosquitto.port, influxdb.url, http_port)
        ingest = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "makerwatch.cli", "ingest", "--config", str(config),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{http_port}"
        try:
            for _ in range(200):
                try:
                    async with aiohttp.ClientSession() as s, s.get(url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)  # waiting for ingest to listen
            seen: dict[tuple[str, float], list[float]] = {}
            broker_seen: dict[tuple[str, float], float] = {}
            ready, count = asyncio.Event(), [0, args.pages - 1]
            streams = [asyncio.create_task(stream(url, f"127.0.0.{i + 2}", seen, ready, count))
                       for i in range(args.pages - 1)]  # fmt: skip
            await asyncio.wait_for(ready.wait(), 30)

            async def bare_subscriber() -> None:
                async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
                    await client.subscribe(f"makerspace/{SITE}/+/telemetry", qos=1)
                    async for message in client.messages:
                        body = json.loads(message.payload)  # type: ignore[arg-type]
                        broker_seen[(message.topic.value.split("/")[2], body["power_w"])] = (
                            time.time()
                        )

            peer = asyncio.create_task(bare_subscriber())
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--headless", "--no-sandbox", "--disable-gpu"],
                )
                page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await page.goto(url + "/?kiosk=1")
                await page.wait_for_selector("article.tile")
                cdp = await page.context.new_cdp_session(page)
                await cdp.send("Performance.enable")

                async def heap_mb() -> float:
                    await cdp.send("HeapProfiler.collectGarbage")
                    metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
                    return (
                        next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize") / 2**20
                    )

                heap_start = await heap_mb()
                cpu_start, _ = process_usage(ingest.pid)
                published: dict[tuple[str, float], float] = {}
                async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
                    started, seq = time.monotonic(), 0
                    interval = PERIOD_S / args.machines
                    while time.monotonic() - started < args.seconds:
                        device = f"m-{seq % args.machines:03d}"
                        power = round(10 + seq * 0.001, 3)  # unique per reading
                        seq += 1
                        payload = {"v": 1, "ts": time.time(), "seq": seq, "power_w": power}
                        published[(device, power)] = time.time()
                        await client.publish(
                            f"makerspace/{SITE}/{device}/telemetry", json.dumps(payload), qos=1
                        )
                        await asyncio.sleep(max(0.0, started + seq * interval - time.monotonic()))
                await asyncio.sleep(3)  # the last readings reach the pages
                cpu_end, peak_mb = process_usage(ingest.pid)
                heap_end = await heap_mb()
                await browser.close()
            peer.cancel()
            for task in streams:
                task.cancel()
            latencies = [
                t - published[key] for key, times in seen.items() if key in published for t in times
            ]
            expected = len(published) * (args.pages - 1)
            broker = [broker_seen[k] - published[k] for k in published if k in broker_seen]
            print(f"{args.machines} machines, a reading every {PERIOD_S:g} s each ({args.machines / PERIOD_S:.0f} msg/s), "
                  f"{args.pages} pages ({args.pages - 1} event streams + 1 Chromium), {args.seconds:.0f} s:")  # fmt: skip
            print(f"  readings published          {len(published)}")
            print(f"  tile updates received       {len(latencies)} of {expected} "
                  "(several readings of one machine within 0.2 s are one update)")  # fmt: skip
            print(f"  publish -> tile, p50 / p99  {1000 * percentile(latencies, 50):.0f} / "
                  f"{1000 * percentile(latencies, 99):.0f} ms")  # fmt: skip
            print(f"  publish -> bare subscriber  {1000 * percentile(broker, 50):.0f} / "
                  f"{1000 * percentile(broker, 99):.0f} ms (peer: the broker alone)")  # fmt: skip
            cpu = (cpu_end - cpu_start) / args.seconds
            print(
                f"  ingest process              {100 * cpu:.1f} % of one core, peak RSS {peak_mb:.0f} MB"
            )
            print(
                f"  Chromium page JS heap       {heap_start:.1f} MB at start, {heap_end:.1f} MB after {args.seconds:.0f} s"
            )
            print(f"command: .venv/bin/python bench/board_latency.py --machines {args.machines} "
                  f"--pages {args.pages} --seconds {args.seconds:g}")  # fmt: skip
        finally:
            ingest.terminate()
            await asyncio.wait_for(ingest.wait(), 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
