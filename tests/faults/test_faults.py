"""Faults with real processes: ingest killed, InfluxDB stopped, Mosquitto restarted, connections cut.

After each, InfluxDB holds exactly one point per reading sent, in order per device,
and sums over the data equal the sums of what was sent (duplicates change nothing).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.errors import SinkError
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import TcpProxy, ingest_process, make_config, stored, wait_until

DEVICES = ("solder-1", "printer-1")
PER_DEVICE = 150
RATE_PER_S = 60


@dataclass
class Stream:
    """Readings published at a steady rate; each is retried until the broker acknowledges it."""

    config: SiteConfig
    port: int
    start_s: float
    sent: int = 0

    def reading(self, i: int) -> tuple[str, str, float]:
        device = DEVICES[i % len(DEVICES)]
        power = float(i % 97)
        body = {
            "v": 1,
            "ts": round(self.start_s + i * 0.01, 3),
            "seq": i // len(DEVICES),
            "power_w": power,
        }
        return f"makerspace/{self.config.site.id}/{device}/telemetry", json.dumps(body), power

    async def run(self, on_progress: Callable[[int], None] | None = None) -> None:
        i = 0
        while i < PER_DEVICE * len(DEVICES):
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=3
                ) as client:
                    while i < PER_DEVICE * len(DEVICES):
                        topic, payload, _ = self.reading(i)
                        await client.publish(topic, payload, qos=1)
                        i += 1
                        self.sent = i
                        if on_progress:
                            on_progress(i)
                        await asyncio.sleep(1 / RATE_PER_S)  # the stream's publish rate
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)  # broker away: retry the same reading

    @property
    def total(self) -> int:
        return PER_DEVICE * len(DEVICES)

    def power_sum(self) -> float:
        return sum(self.reading(i)[2] for i in range(self.total))


async def assert_exactly_once(config: SiteConfig, stream: Stream) -> None:
    async with InfluxClient(config.influxdb) as influx:

        async def complete() -> bool:
            try:
                rows = await stored(influx, "SELECT count(power_w) FROM telemetry")
            except SinkError:
                return False
            return bool(rows) and rows[0]["count"] == stream.total

        await wait_until(complete, f"{stream.total} points", within_s=90)
        for device in DEVICES:
            rows = await stored(
                influx, f"SELECT seq FROM telemetry WHERE device = '{device}' ORDER BY time"
            )
            assert [r["seq"] for r in rows] == list(range(PER_DEVICE)), device
        [total] = await stored(influx, "SELECT sum(power_w) FROM telemetry")
        assert total["sum"] == stream.power_sum(), "duplicates must not change any aggregate"


def fault_config(mosquitto: EmbeddedMosquitto, influx_url: str, tmp_path: Path) -> SiteConfig:
    return make_config(mosquitto.port, influx_url, spool_dir=str(tmp_path / "spool"))


async def test_ingest_killed_with_sigkill_mid_stream(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test kill -9 of the ingest process a third of the way in, then a restart."""
    config = fault_config(mosquitto, own_influxdb.url, tmp_path)
    stream = Stream(config, mosquitto.port, time.time() - 600)
    async with ingest_process(config, tmp_path) as ingest:
        task = asyncio.create_task(stream.run())
        await wait_until(lambda: stream.sent >= stream.total // 3, "a third of the stream")
        ingest.kill()
        ingest.start()
        await task
        await assert_exactly_once(config, stream)


async def test_influxdb_stopped_for_30_seconds_mid_stream(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test InfluxDB gone for 30 s while readings keep coming."""
    config = fault_config(mosquitto, own_influxdb.url, tmp_path)
    stream = Stream(config, mosquitto.port, time.time() - 600)
    async with ingest_process(config, tmp_path):
        task = asyncio.create_task(stream.run())
        await wait_until(lambda: stream.sent >= stream.total // 4, "a quarter of the stream")
        own_influxdb.stop()
        await asyncio.sleep(30)  # the fault itself: thirty seconds without InfluxDB
        own_influxdb.start()
        await task
        await assert_exactly_once(config, stream)


async def test_mosquitto_restarted_mid_stream(
    tmp_path: Path, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test the broker restarting (persistence on) while readings are in flight."""
    with EmbeddedMosquitto(free_port(), tmp_path / "mosquitto") as broker:
        config = fault_config(broker, own_influxdb.url, tmp_path)
        stream = Stream(config, broker.port, time.time() - 600)
        async with ingest_process(config, tmp_path):
            task = asyncio.create_task(stream.run())
            await wait_until(lambda: stream.sent >= stream.total // 3, "a third of the stream")
            broker.stop()
            broker.start()
            await task
            await assert_exactly_once(config, stream)


async def test_connections_to_influxdb_cut_mid_stream(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test ingest's InfluxDB connections cut, and responses lost after InfluxDB wrote the data."""
    async with TcpProxy(own_influxdb.port) as proxy:
        config = fault_config(mosquitto, f"http://127.0.0.1:{proxy.port}", tmp_path)
        stream = Stream(config, mosquitto.port, time.time() - 600)
        cuts = 0
        async with ingest_process(config, tmp_path):
            task = asyncio.create_task(stream.run())
            for share in (5, 4, 3, 2):
                await wait_until(
                    lambda s=share: stream.sent >= stream.total // s, "the stream moving on"
                )
                cuts += proxy.cut()
                proxy.responses_to_lose += 2
            await task
            await assert_exactly_once(config, stream)
        assert cuts > 0, "open connections were cut"
        assert proxy.lost > 0, (
            "batches written whose answer never came back (then spooled and replayed)"
        )


async def test_mosquitto_killed_without_warning_keeps_what_it_saved(
    tmp_path: Path, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test that readings the broker acknowledged while ingest was away survive a SIGKILL of
    the broker once its store has been saved (every 5 s; docs/operations.md)."""
    with EmbeddedMosquitto(free_port(), tmp_path / "mosquitto") as broker:
        config = fault_config(broker, own_influxdb.url, tmp_path)
        async with ingest_process(config, tmp_path):
            pass  # ingest's persistent session now exists at the broker
        stream = Stream(config, broker.port, time.time() - 600)
        await stream.run()  # every reading acknowledged by the broker
        acknowledged_at = time.time()
        store = broker.data_dir / "mosquitto.db"
        await wait_until(
            lambda: store.exists() and store.stat().st_mtime > acknowledged_at + 0.1,
            "the broker's next save of its store",
        )
        broker.kill()
        broker.start()
        async with ingest_process(config, tmp_path):
            await assert_exactly_once(config, stream)
