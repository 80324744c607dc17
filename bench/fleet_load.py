"""A fleet of simulated boards at a fixed rate through ingest: is anything lost, and how far behind is it?

    .venv/bin/python bench/fleet_load.py [--devices 300] [--rate 500] [--seconds 20] [--processes 2] [--plugs 50]

Real Mosquitto and InfluxDB on temporary ports; the fleet (makerwatch/sim/fleet.py, the
firmware's own Agent per board, several processes) publishes telemetry at the
given total rate, and smart plugs of every firmware (makerwatch/sim/fleet_plugs.py)
report beside the boards, each as often as a board. Baseline, same run: the same fleet with a bare QoS 1
subscriber counting. Then through ingest, whose site file is generated to list
every fleet board: the count stored in InfluxDB is compared with the count the
broker acknowledged, and the lag is how long after the fleet stops the last
reading is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_support import temporary_stack

from makerwatch.app import IngestService
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from makerwatch.sim.fleet import fleet_devices, run_fleet
from makerwatch.sim.fleet_plugs import fleet_plugs, plug_power_topics

SITE = "bench"


async def settle(done: Callable[[], bool | Awaitable[bool]], limit_s: float) -> float:
    """Seconds until `done()` holds (polled), or the limit."""
    started = time.monotonic()
    while True:
        result = done()
        if not isinstance(result, bool):
            result = await result
        if result or time.monotonic() - started > limit_s:
            return time.monotonic() - started
        await asyncio.sleep(0.05)  # polling a count, with a deadline


async def baseline(port: int, args: argparse.Namespace) -> tuple[int, int, float]:
    """(acknowledged, received by a bare subscriber, lag s) for one fleet run."""
    received = 0
    ready = asyncio.Event()

    async def count() -> None:
        nonlocal received
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe(f"makerspace/{SITE}/+/telemetry", qos=1)
            for topic in plug_power_topics(fleet_plugs(args.plugs, [SITE])):
                await client.subscribe(topic, qos=1)
            ready.set()
            async for _ in client.messages:
                received += 1

    task = asyncio.create_task(count())
    await ready.wait()
    report = await asyncio.to_thread(
        run_fleet,
        "127.0.0.1",
        port,
        args.devices,
        args.rate,
        args.seconds,
        [SITE],
        args.processes,
        1,
        args.plugs,
    )
    lag = await settle(lambda: received >= report.total, 60)
    task.cancel()
    return report.total, received, lag


async def through_ingest(
    mq: EmbeddedMosquitto, ix: EmbeddedInfluxDB, args: argparse.Namespace
) -> tuple[int, int, float, float]:
    """(acknowledged, stored in InfluxDB, lag s, achieved rate) with ingest in between."""
    config = SiteConfig.model_validate({
        "site": {"id": SITE, "name": "Bench"},
        "devices": [{"id": device, "name": device, "kind": "other"} for _, device in fleet_devices(args.devices, [SITE])]
                   + [device for _, device in fleet_plugs(args.plugs, [SITE])],
        "mqtt": {"port": mq.port, "client_id": "bench-fleet"},
        "influxdb": {"url": ix.url, "database": "bench_fleet"},
        "ingest": {"http_port": None, "spool_dir": None},
    })  # fmt: skip
    service = IngestService(config)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    await service.subscribed.wait()
    report = await asyncio.to_thread(
        run_fleet,
        "127.0.0.1",
        mq.port,
        args.devices,
        args.rate,
        args.seconds,
        [SITE],
        args.processes,
        2,
        args.plugs,
    )
    async with InfluxClient(config.influxdb) as influx:

        async def stored() -> int:
            # Distinct readings in InfluxDB: ingest's messages_stored also counts the
            # boards' state and status messages, so it reached the total early.
            series = await influx.query("SELECT count(power_w) FROM telemetry")
            return int(series[0]["values"][0][1]) if series else 0

        async def all_stored() -> bool:
            return await stored() >= report.total

        lag = await settle(all_stored, 120)
        stop.set()
        await task
        return report.total, await stored(), lag, report.rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--plugs", type=int, default=50, help="smart plugs of every firmware beside the boards"
    )
    args = parser.parse_args()
    with temporary_stack() as (mq, ix):
        sent_b, received_b, lag_b = await baseline(mq.port, args)
        sent, stored, lag, rate = await through_ingest(mq, ix, args)
    print(
        f"command: python bench/fleet_load.py --devices {args.devices} --rate {args.rate:g} --seconds {args.seconds:g} --processes {args.processes} --plugs {args.plugs}"
    )
    print(
        f"baseline  bare subscriber   acknowledged {sent_b:6d}  received {received_b:6d}  lost {sent_b - received_b:3d}  lag after the fleet stopped {lag_b:5.2f} s"
    )
    print(
        f"ingest    into InfluxDB     acknowledged {sent:6d}  stored   {stored:6d}  lost {sent - stored:3d}  lag after the fleet stopped {lag:5.2f} s"
    )
    print(
        f"          fleet achieved {rate:.0f} msg/s of {args.rate:g} asked for the boards, {args.devices} boards and {args.plugs} plugs, {args.processes} processes"
    )


if __name__ == "__main__":
    asyncio.run(main())
