"""Ingest throughput and latency against real Mosquitto and InfluxDB, with a baseline.

    .venv/bin/python bench/ingest_throughput.py [--messages N] [--latency-samples N]

Throughput is measured by draining a persistent session: N messages are queued at
the broker while the consumer is away, then the consumer connects and the clock
runs until the last one is handled, so the load client's speed is not measured.
Baseline: a bare QoS 1 subscriber draining the same N messages from the same
broker in the same run; it is the ceiling ingest can reach on this machine.
Ingest counts a message only once it is written to InfluxDB and acknowledged, and
the count stored in InfluxDB is checked. It runs with the default Receive Maximum (1000) and with
Mosquitto's usual in-flight window (20), because acknowledging after the write
makes that window the cap on each batch. Latency is publish -> acknowledged after
the write (so the point is queryable), one message at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_support import percentile, temporary_stack

from makerwatch.app import IngestService, tune_gc_for_a_long_running_ingest
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient

PUBLISH_WINDOW = 200  # concurrent QoS 1 publishes in flight from the load client


def site_config(mqtt_port: int, influx_url: str, run: str, receive_maximum: int) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": {"id": "bench", "name": "Bench"},
            "devices": [
                {"id": f"dev-{i}", "name": f"Device {i}", "kind": "other"} for i in range(20)
            ],
            "mqtt": {
                "port": mqtt_port,
                "client_id": f"bench-{run}",
                "receive_maximum": receive_maximum,
            },
            "influxdb": {"url": influx_url, "database": f"bench_{run}"},
        }
    )


def messages(count: int, start_ts: float) -> list[tuple[str, str]]:
    return [
        (
            f"makerspace/bench/dev-{i % 20}/telemetry",
            json.dumps(
                {"v": 1, "ts": round(start_ts + i * 0.01, 3), "seq": i, "power_w": 10.0 + i % 7}
            ),
        )
        for i in range(count)
    ]


async def publish_all(port: int, batch: list[tuple[str, str]]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        client.pending_calls_threshold = PUBLISH_WINDOW + 1
        for i in range(0, len(batch), PUBLISH_WINDOW):
            chunk = batch[i : i + PUBLISH_WINDOW]
            await asyncio.gather(*(client.publish(t, p, qos=1) for t, p in chunk))


async def wait_for(condition: Callable[[], bool], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.005)


def persistent_client(port: int, client_id: str) -> aiomqtt.Client:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=properties,
    )


async def baseline(port: int, count: int) -> float:
    """Messages per second a bare QoS 1 subscriber drains from its queued session."""
    async with persistent_client(port, "bench-baseline") as client:
        await client.subscribe("makerspace/bench/+/telemetry", qos=1)
    await publish_all(port, messages(count, time.time() - 3600))
    received = 0
    started = time.perf_counter()
    async with persistent_client(port, "bench-baseline") as client:
        async for _ in client.messages:
            received += 1
            if received == count:
                break
    return count / (time.perf_counter() - started)


async def through_ingest(config: SiteConfig, port: int, count: int) -> float:
    """Messages per second ingest drains from its queued session, each written then acked."""
    first = IngestService(config)
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await wait_for(first.subscribed.is_set, 30)
    stop.set()
    await task
    await publish_all(port, messages(count, time.time() - 3600))

    service = IngestService(config)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(service.run(stop))
    await wait_for(lambda: service.counters.messages_stored == count)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    async with InfluxClient(config.influxdb) as influx:
        [series] = await influx.query("SELECT count(seq) FROM telemetry")
        stored = series["values"][0][1]
    if stored != count:
        raise SystemExit(f"LOSS: sent {count}, stored {stored}")
    return count / elapsed


async def latency(config: SiteConfig, port: int, samples: int) -> list[float]:
    service = IngestService(config)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    await wait_for(service.subscribed.is_set, 30)
    results = []
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        for i in range(samples):
            topic, payload = messages(1, time.time() - 1)[0]
            before = service.counters.messages_stored
            started = time.perf_counter()
            await client.publish(topic, payload.replace('"seq": 0', f'"seq": {i}'), qos=1)
            await wait_for(lambda b=before: service.counters.messages_stored > b)
            results.append(time.perf_counter() - started)
    stop.set()
    await task
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--default-gc", action="store_true",
                        help="keep Python's default collector settings (ingest's process tunes them)")  # fmt: skip
    args = parser.parse_args()
    if not args.default_gc:
        tune_gc_for_a_long_running_ingest()  # as `makerwatch ingest` and `up` do
    with temporary_stack() as (mq, ix):
        count, port = args.messages, mq.port
        base = await baseline(port, count)
        wide = await through_ingest(site_config(port, ix.url, "wide", 1000), port, count)
        narrow = await through_ingest(site_config(port, ix.url, "narrow", 20), port, count)
        lat = await latency(site_config(port, ix.url, "lat", 1000), port, args.latency_samples)
    print(
        f"command: python bench/ingest_throughput.py --messages {count}"
        f" --latency-samples {args.latency_samples}" + (" --default-gc" if args.default_gc else "")
    )
    print(f"baseline  bare QoS 1 subscriber drain      {base:9.0f} msg/s")
    share = f"{wide / base:.0%} of baseline"
    print(f"ingest    receive_maximum=1000 (default)   {wide:9.0f} msg/s  ({share}), all stored")
    share = f"{narrow / base:.0%} of baseline"
    print(f"ingest    receive_maximum=20               {narrow:9.0f} msg/s  ({share}), all stored")
    p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
    print(
        f"latency   publish -> written and acked     p50 {p50:.0f} ms, p99 {p99:.0f} ms"
        f" over {len(lat)} messages (batch_max_age_s=0.2)"
    )


if __name__ == "__main__":
    asyncio.run(main())
