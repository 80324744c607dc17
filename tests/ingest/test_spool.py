"""The on-disk spool: in order, survives restarts and torn writes, bounded, replayed when InfluxDB returns."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from makerwatch.ingest.errors import SinkError
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.spool import Spool, SpoolFull
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.support import make_config, publish, start_ingest, stored, wait_until


def test_batches_come_back_in_order_across_a_reopen(tmp_path: Path) -> None:
    """Test append, peek, advance, and that a reopened spool resumes where replay stopped."""
    spool = Spool(tmp_path, 10_000)
    for i in range(3):
        spool.append([f"m f={i}i {i}", f"m f={i}i {i + 100}"])
    assert spool.peek() == ["m f=0i 0", "m f=0i 100"]
    spool.advance()
    reopened = Spool(tmp_path, 10_000)
    assert reopened.peek() == ["m f=1i 1", "m f=1i 101"]
    reopened.advance()
    reopened.peek()
    reopened.advance()
    assert not reopened.pending
    assert (tmp_path / "spool.lp").stat().st_size == 0, "emptied once everything is replayed"


def test_a_torn_last_record_is_dropped(tmp_path: Path) -> None:
    """Test that a half-written record (a crash mid-append, never acknowledged) is dropped on open."""
    spool = Spool(tmp_path, 10_000)
    spool.append(["m f=1i 1"])
    with (tmp_path / "spool.lp").open("ab") as f:
        f.write(b"m f=2i 2\nm f=")
    reopened = Spool(tmp_path, 10_000)
    assert reopened.peek() == ["m f=1i 1"]
    reopened.advance()
    assert not reopened.pending


def test_a_full_spool_refuses_with_a_clear_error(tmp_path: Path) -> None:
    """Test that the size limit holds and says which file and limit."""
    spool = Spool(tmp_path, 40)
    spool.append(["m f=1i 1"])
    with pytest.raises(SpoolFull, match=r"spool\.lp: 10 bytes spooled, limit 40"):
        spool.append(["m f=2i 2" * 5])


async def test_influxdb_down_spools_survives_a_restart_and_replays_in_order(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test that with InfluxDB down readings are spooled and acknowledged, kept over an ingest restart, then written in order."""
    config = make_config(mosquitto.port, own_influxdb.url, spool_dir=str(tmp_path / "spool"))
    topic = f"makerspace/{config.site.id}/solder-1/telemetry"
    now = time.time()
    readings = [
        (topic, json.dumps({"v": 1, "ts": now - 60 + i, "seq": i, "power_w": 10.0 + i}))
        for i in range(30)
    ]
    ingest = await start_ingest(config)
    await publish(mosquitto.port, readings[:5])
    await wait_until(
        lambda: ingest.service.counters.messages_stored == 5,
        "the first readings written",
    )
    own_influxdb.stop()
    await publish(mosquitto.port, readings[5:20])
    await wait_until(
        lambda: ingest.service.counters.messages_stored == 20,
        "readings spooled and acknowledged",
    )
    assert ingest.service.spool is not None
    assert ingest.service.spool.pending
    assert ingest.service.counters.spooled_batches >= 1
    assert ingest.service.unacknowledged == 0, "nothing left waiting at the broker"
    await ingest.shutdown()

    again = await start_ingest(config)
    try:
        assert again.service.spool is not None
        assert again.service.spool.pending, "the spool survived the restart"
        await publish(mosquitto.port, readings[20:])
        own_influxdb.start()
        async with InfluxClient(config.influxdb) as influx:

            async def all_stored() -> bool:
                rows = await stored(influx, "SELECT count(seq) FROM telemetry")
                return bool(rows) and rows[0]["count"] == 30

            await wait_until(all_stored, "all 30 readings in InfluxDB", within_s=40)
            rows = await stored(influx, "SELECT seq FROM telemetry ORDER BY time")
        assert [r["seq"] for r in rows] == list(range(30))
        await wait_until(lambda: not again.service.spool.pending, "the spool emptied")  # type: ignore[union-attr]
    finally:
        await again.shutdown()


async def test_a_full_spool_holds_messages_at_the_broker_and_loses_nothing(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test that when the spool is full, ingest reports it and keeps messages unacknowledged until InfluxDB returns."""
    config = make_config(
        mosquitto.port, own_influxdb.url, spool_dir=str(tmp_path / "spool"), spool_max_bytes=1024
    )
    topic = f"makerspace/{config.site.id}/solder-1/telemetry"
    now = time.time()
    readings = [
        (topic, json.dumps({"v": 1, "ts": now - 60 + i, "seq": i, "power_w": 10.0 + i}))
        for i in range(40)
    ]
    own_influxdb.stop()
    ingest = await start_ingest(config)
    try:
        await publish(mosquitto.port, readings)
        await wait_until(lambda: ingest.service.counters.spool_full >= 1, "the spool reported full")
        assert ingest.service.unacknowledged > 0, "held at the broker, not dropped"
        own_influxdb.start()
        async with InfluxClient(config.influxdb) as influx:

            async def all_stored() -> bool:
                try:
                    rows = await stored(influx, "SELECT count(seq) FROM telemetry")
                except SinkError:
                    return False  # InfluxDB is back but ingest has not recreated the database yet
                return bool(rows) and rows[0]["count"] == 40

            await wait_until(all_stored, "all 40 readings in InfluxDB", within_s=60)
            rows = await stored(influx, "SELECT seq FROM telemetry ORDER BY time")
        assert [r["seq"] for r in rows] == list(range(40))
    finally:
        await ingest.shutdown()
