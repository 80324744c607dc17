"""A backlog of any size, and an InfluxDB slower than the stream: nothing lost, memory flat.

Ingest holds at most its Receive Maximum of messages unacknowledged and stops
reading its socket at that, so a backlog waits at the broker, not in ingest's
heap; and while its writer lags, batches are acknowledged once fsynced to the
spool, so the broker's queue for ingest stays short however slow InfluxDB is.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import (
    DeadLetters,
    TcpProxy,
    count_points,
    ingest_process,
    make_config,
    start_ingest,
    wait_until,
)

pytestmark = pytest.mark.stack

BACKLOG = 300_000
# Ingest's own heap at rest is ~90 MB (pydantic, the report's matplotlib and
# WeasyPrint, prometheus_client); without the window, this backlog took it past 1 GB.
PEAK_RSS_BOUND_MB = 150


class QueueMosquitto(EmbeddedMosquitto):
    """A broker that keeps `queue` messages for a session, reporting $SYS each second."""

    def __init__(self, port: int, data_dir: Path, queue: int) -> None:
        super().__init__(port, data_dir)
        self.queue = queue

    def config_text(self) -> str:
        text = super().config_text()
        return text.replace("max_queued_messages 200000", f"max_queued_messages {self.queue}") + "sys_interval 1\n"  # fmt: skip


def readings(site: str, count: int, start_s: float) -> list[tuple[str, str]]:
    return [
        (
            f"makerspace/{site}/{('solder-1', 'printer-1')[i % 2]}/telemetry",
            json.dumps({"v": 1, "ts": round(start_s + i * 0.001, 3), "seq": i, "power_w": 5.0}),
        )
        for i in range(count)
    ]


def publish_many(port: int, messages: list[tuple[str, str]], per_second: float = 0) -> None:
    """Publish at QoS 1 (paced when `per_second`), and return once the broker has them all."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        started = time.monotonic()
        sent: collections.deque[paho.MQTTMessageInfo] = collections.deque()
        for i, (topic, payload) in enumerate(messages):
            sent.append(client.publish(topic, payload, qos=1))
            while len(sent) > 5_000:  # paho's own queue is bounded
                sent.popleft().wait_for_publish(120)
            if per_second and i % 100 == 99:
                ahead = started + (i + 1) / per_second - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)  # the stream's publish rate
        for info in sent:
            info.wait_for_publish(120)
    finally:
        client.loop_stop()
        client.disconnect()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), from the kernel, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.timeout(480)
async def test_a_300k_backlog_is_stored_whole_with_flat_memory(
    tmp_path: Path, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that 300,000 messages queued while ingest was away are all stored, and
    ingest's peak RSS stays under 150 MB while it drains them."""
    with QueueMosquitto(free_port(), tmp_path / "mosquitto", queue=2 * BACKLOG) as broker:
        config = make_config(broker.port, influxdb.url, spool_dir=str(tmp_path / "spool"))
        async with ingest_process(config, tmp_path / "first"):
            pass  # its persistent session now collects the backlog
        await asyncio.to_thread(
            publish_many, broker.port, readings(config.site.id, BACKLOG, time.time() - 3600)
        )
        async with (
            ingest_process(config, tmp_path / "second") as ingest,
            InfluxClient(config.influxdb) as influx,
        ):
            assert ingest.process is not None

            async def all_stored() -> bool:
                with contextlib.suppress(Exception):
                    return await count_points(influx) == BACKLOG
                return False

            await wait_until(all_stored, f"{BACKLOG} readings in InfluxDB", within_s=300)
            peak = peak_rss_mb(ingest.process.pid)
        log = (tmp_path / "second" / "ingest.log").read_text()
    assert "the broker dropped" not in log, log[-2000:]
    print(f"ingest peak RSS draining {BACKLOG} messages: {peak:.0f} MB")
    assert peak < PEAK_RSS_BOUND_MB, f"ingest's peak RSS {peak:.0f} MB"


@pytest.mark.timeout(240)
async def test_influxdb_slower_than_the_stream_loses_nothing_at_the_broker(
    tmp_path: Path, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that with every InfluxDB write taking a second, a stream of 2,000 msg/s
    against a broker that keeps 3,000 messages for ingest loses none: batches the
    writer cannot keep up with are acknowledged from the spool and written later."""
    count, rate = 20_000, 2_000
    with QueueMosquitto(free_port(), tmp_path / "mosquitto", queue=3_000) as broker:
        influx_port = int(influxdb.url.rsplit(":", 1)[1])
        async with TcpProxy(influx_port, hold=b"POST /write", hold_s=1.0) as slow:
            config = make_config(
                broker.port, f"http://127.0.0.1:{slow.port}", spool_dir=str(tmp_path / "spool")
            )
            running = await start_ingest(config)
            try:
                stream = readings(config.site.id, count, time.time() - 60)
                await asyncio.to_thread(publish_many, broker.port, stream, rate)
                async with InfluxClient(config.influxdb) as influx:

                    async def all_stored() -> bool:
                        return await count_points(influx) == count

                    await wait_until(all_stored, f"{count} readings in InfluxDB", within_s=120)
                assert running.service.broker_dropped == 0  # every reading stored says as much
                counters = running.service.counters
                assert counters.spooled_batches > 0, (
                    "the lagging writer's batches went to the spool"
                )
                assert slow.held < count / 1000, "written in large batches"
            finally:
                await running.shutdown()


async def test_a_backlog_of_bad_messages_is_dead_lettered_through_a_small_window(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, dead_letters: DeadLetters
) -> None:
    """Test that 3,000 queued messages, every other one invalid, drain through a window of
    50: each bad one dead-lettered with its reason (ingest's own publishes never wait
    behind the window), every good one stored, nothing left unacknowledged."""
    config = make_config(mosquitto.port, influxdb.url)
    config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"receive_maximum": 50})})  # fmt: skip
    first = await start_ingest(config)
    await first.shutdown()  # its persistent session now collects the backlog
    good = readings(config.site.id, 1500, time.time() - 600)
    bad = [
        (topic, payload.replace('"power_w"', '"power_w": "hot", "x"')) for topic, payload in good
    ]
    backlog = [message for pair in zip(good, bad, strict=True) for message in pair]
    await asyncio.to_thread(publish_many, mosquitto.port, backlog)
    running = await start_ingest(config)
    try:
        async with InfluxClient(config.influxdb) as influx:

            async def drained() -> bool:
                return len(dead_letters.records) == 1500 and await count_points(influx) == 1500

            await wait_until(drained, "1,500 stored and 1,500 dead-lettered", within_s=60)
        assert set(dead_letters.reasons()) == {"schema"}
        await wait_until(lambda: running.service.unacknowledged == 0, "everything acknowledged")
    finally:
        await running.shutdown()
