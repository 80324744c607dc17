"""Stamps of readings without ts: a redelivery is stored once, across a kill -9 too."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.stamps import Stamps
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import TcpProxy, ingest_process, make_config, publish, stored, wait_until

PUBACK = b"\x40"  # MQTT PUBACK's first byte: ingest's acknowledgement of a QoS 1 message


async def test_a_reading_without_ts_redelivered_after_kill_9_is_stored_once(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test that a ts-less reading written by a real ingest process killed (-9) before its
    acknowledgement reached the broker, redelivered to the next process, is one point
    with its first stamp."""
    async with TcpProxy(mosquitto.port, hold=PUBACK, hold_s=3600) as link:
        http_port = free_port()
        config = make_config(link.port, own_influxdb.url, spool_dir=str(tmp_path / "spool"),
                             http_port=http_port)  # fmt: skip

        async def stored_by_this_process() -> int:
            """Board messages the running ingest process wrote and acknowledged."""
            try:
                async with httpx.AsyncClient(timeout=10) as http:
                    metrics = (await http.get(f"http://127.0.0.1:{http_port}/metrics")).text
            except httpx.ConnectError:
                return -1  # not listening yet
            [line] = [
                m for m in metrics.splitlines() if m.startswith("makerwatch_messages_stored_total{")
            ]
            return int(float(line.split()[1]))

        topic = f"makerspace/{config.site.id}/solder-1/telemetry"
        query = "SELECT power_w, seq FROM telemetry"
        async with (
            InfluxClient(config.influxdb) as influx,
            ingest_process(config, tmp_path) as ingest,
        ):
            await publish(
                mosquitto.port, [(topic, json.dumps({"v": 1, "seq": 7, "power_w": 42.5}))]
            )

            async def written() -> bool:
                return len(await stored(influx, query)) == 1

            await wait_until(written, "the reading written")

            async def acknowledged() -> bool:
                return await stored_by_this_process() == 1

            await wait_until(acknowledged, "its acknowledgement sent (and held on the way)")
            assert link.held >= 1
            [first] = await stored(influx, query)
            ingest.kill()
            link.cut()  # the acknowledgement never reaches the broker
            ingest.start()
            await wait_until(acknowledged, "the redelivery written and acknowledged", within_s=30)
            assert await stored(influx, query) == [first]


def test_stamps_survive_a_torn_last_line_and_a_board_that_booted_again(tmp_path: Path) -> None:
    """Test that the stamp file read back skips a line cut short by a crash, forgets a
    board's stamps after its new boot, and keeps what was given after."""
    path = tmp_path / "stamps.log"
    stamps = Stamps(path)
    stamps.put(("solder-1", "telemetry", 1), 10)
    stamps.put(("printer-1", "telemetry", 1), 11)
    stamps.forget("solder-1")
    stamps.put(("solder-1", "telemetry", 1), 12)
    with path.open("a") as file:
        file.write("S\tsolder-1\ttelemetry\t2\t1")  # torn: no newline
    again = Stamps(path)
    assert again.get(("solder-1", "telemetry", 1)) == 12
    assert again.get(("printer-1", "telemetry", 1)) == 11
    assert again.get(("solder-1", "telemetry", 2)) is None
    assert again.latest_ns == 12


def test_the_stamp_file_is_rewritten_when_it_grows(tmp_path: Path) -> None:
    """Test that the file holds at most about twice what is remembered, and the newest."""
    path = tmp_path / "stamps.log"
    stamps = Stamps(path, remembered=10)
    for seq in range(100):
        stamps.put(("solder-1", "telemetry", seq), seq)
    assert len(path.read_text().splitlines()) <= 21
    again = Stamps(path, remembered=10)
    assert [again.get(("solder-1", "telemetry", seq)) for seq in (89, 90, 99)] == [None, 90, 99]
