"""The on-disk spool: in order, survives restarts and torn writes, bounded, replayed when InfluxDB returns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from makerwatch.ingest.errors import SinkError
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.spool import Spool, SpoolError, SpoolFull
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import make_config, publish, start_ingest, stored, wait_until


def test_batches_come_back_in_order_across_a_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test append, peek, advance, and that a reopened spool resumes where replay stopped."""
    monkeypatch.setattr("makerwatch.ingest.spool.REPLAY_BYTES", 1)  # one batch per peek

    async def run() -> None:
        spool = Spool(tmp_path, 10_000)
        for i in range(3):
            await spool.append([f"m f={i}i {i}", f"m f={i}i {i + 100}"])
        assert await spool.peek() == ["m f=0i 0", "m f=0i 100"]
        await spool.advance()
        reopened = Spool(tmp_path, 10_000)
        assert await reopened.peek() == ["m f=1i 1", "m f=1i 101"]
        await reopened.advance()
        await reopened.peek()
        await reopened.advance()
        assert not reopened.pending
        assert (tmp_path / "spool.log").stat().st_size == 0, "emptied once everything is replayed"

    asyncio.run(run())


def test_replay_joins_batches_into_large_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that peek joins whole batches, oldest first, up to REPLAY_BYTES of line protocol."""
    monkeypatch.setattr("makerwatch.ingest.spool.REPLAY_BYTES", 40)

    async def run() -> None:
        spool = Spool(tmp_path, 10_000)
        for i in range(5):
            await spool.append([f"m f={i}i {i}", f"m f={i}i {i + 100}"])  # 19 bytes each
        assert await spool.peek() == ["m f=0i 0", "m f=0i 100", "m f=1i 1", "m f=1i 101"]
        await spool.advance()
        assert await spool.peek() == ["m f=2i 2", "m f=2i 102", "m f=3i 3", "m f=3i 103"]
        await spool.advance()
        await spool.append(["m f=5i 5", "m f=6i 6", "m f=7i 7", "m f=8i 8", "m f=9i 9"])
        # A batch larger than the limit still comes back, whole and on its own.
        assert await spool.peek() == ["m f=4i 4", "m f=4i 104"]
        await spool.advance()
        assert len(await spool.peek()) == 5
        await spool.advance()
        assert not spool.pending

    asyncio.run(run())


@pytest.mark.parametrize(
    "cut", [3, 8, 12], ids=["in-the-header", "after-the-header", "in-the-payload"]
)
def test_a_torn_last_record_is_cut_off(tmp_path: Path, cut: int) -> None:
    """Test that a half-written record (a crash mid-append, never acknowledged) is cut off on open."""

    async def run() -> None:
        spool = Spool(tmp_path, 10_000)
        await spool.append(["m f=1i 1"])
        await spool.append(["m f=2i 2", "m f=3i 3"])
        data = (tmp_path / "spool.log").read_bytes()
        whole = 8 + len("m f=1i 1")
        (tmp_path / "spool.log").write_bytes(data[: whole + cut])
        reopened = Spool(tmp_path, 10_000)
        assert await reopened.peek() == ["m f=1i 1"]
        await reopened.advance()
        assert not reopened.pending
        await reopened.append(["m f=4i 4"])  # and it goes on after the cut
        assert await reopened.peek() == ["m f=4i 4"]

    asyncio.run(run())


def test_text_inside_a_record_cannot_forge_another(tmp_path: Path) -> None:
    """Test that a record holding blank lines, or bytes shaped like a header, comes back whole."""

    async def run() -> None:
        spool = Spool(tmp_path, 10_000)
        forged = 'e detail="a\\n\\nb" 1\n\nm,device=other f=1i 2'
        await spool.append([forged, "\x00\x00\x00\x05abcd"])
        await spool.append(["m f=2i 2"])
        reopened = Spool(tmp_path, 10_000)
        assert await reopened.peek() == [*forged.split("\n"), "\x00\x00\x00\x05abcd", "m f=2i 2"]

    asyncio.run(run())


def test_a_full_spool_refuses_with_a_clear_error(tmp_path: Path) -> None:
    """Test that the size limit holds and says which file and limit."""

    async def run() -> None:
        spool = Spool(tmp_path, 40)
        await spool.append(["m f=1i 1"])
        with pytest.raises(SpoolFull, match=r"spool\.log: 16 bytes spooled, limit 40"):
            await spool.append(["m f=2i 2" * 5])

    asyncio.run(run())


def test_a_spool_from_the_previous_version_is_carried_over(tmp_path: Path) -> None:
    """Test that batches an older version spooled (blank-line records, ms times) are replayed, in ns."""
    (tmp_path / "spool.lp").write_bytes(b"m f=0i 1000\n\nm f=1i 2000\nm f=2i 3000\n\nm f=3i 40")
    (tmp_path / "spool.offset").write_text("13")

    async def run() -> None:
        spool = Spool(tmp_path, 10_000)
        assert await spool.peek() == ["m f=1i 2000000000", "m f=2i 3000000000"]
        await spool.advance()
        assert not spool.pending, "the torn tail was never acknowledged"
        assert not (tmp_path / "spool.lp").exists()

    asyncio.run(run())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs of its own: a disk that fills up (root mounts it, as CI runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_is_an_error_and_leaves_no_torn_record(small_disk: Path) -> None:
    """Test that an append the disk cannot take raises SpoolError, is cut back off, reports
    itself, and that the spool works again once there is room."""

    async def run() -> None:
        spool = Spool(small_disk / "spool", 10_000_000)
        await spool.append(["m f=1i 1"])
        filler = small_disk / "filler"
        with filler.open("wb") as f, contextlib.suppress(OSError):
            f.write(b"x" * 1_000_000)
        with pytest.raises(SpoolError, match="No space left on device"):
            await spool.append(["m f=2i 2" * 2_000])
        assert spool.failing is not None
        filler.unlink()
        await spool.append(["m f=3i 3"])
        assert spool.failing is None
        reopened = Spool(small_disk / "spool", 10_000_000)
        assert await reopened.peek() == ["m f=1i 1", "m f=3i 3"]

    asyncio.run(run())


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


async def test_a_full_spool_disk_holds_messages_reports_it_and_loses_nothing(
    small_disk: Path, mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test that with InfluxDB down and the spool's disk full, ingest keeps running, holds the
    readings at the broker, says so on /healthz, and stores every one once there is room."""
    http_port = free_port()
    config = make_config(mosquitto.port, own_influxdb.url, spool_dir=str(small_disk / "spool"),
                         http_port=http_port)  # fmt: skip
    topic = f"makerspace/{config.site.id}/solder-1/telemetry"
    now = time.time()
    readings = [
        (topic, json.dumps({"v": 1, "ts": now - 60 + i, "seq": i, "power_w": 10.0 + i}))
        for i in range(30)
    ]
    own_influxdb.stop()
    ingest = await start_ingest(config)
    filler = small_disk / "filler"
    try:
        with filler.open("wb") as f, contextlib.suppress(OSError):
            f.write(b"x" * 1_000_000)
        await publish(mosquitto.port, readings)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:

            async def reported() -> bool:
                health = (await http.get("/healthz")).json()
                return health["spool_writable"] is False and "No space" in health["spool_error"]

            await wait_until(reported, "/healthz to report the full spool disk")
            assert ingest.service.counters.spool_errors >= 1
            assert ingest.service.unacknowledged > 0, "held at the broker, not dropped"
            assert not ingest.task.done()
            filler.unlink()
            own_influxdb.start()
            async with InfluxClient(config.influxdb) as influx:

                async def all_stored() -> bool:
                    try:
                        rows = await stored(influx, "SELECT count(seq) FROM telemetry")
                    except SinkError:
                        return False
                    return bool(rows) and rows[0]["count"] == 30

                await wait_until(all_stored, "all 30 readings", within_s=60)
                rows = await stored(influx, "SELECT seq FROM telemetry ORDER BY time")
            assert [r["seq"] for r in rows] == list(range(30))
            await wait_until(
                lambda: _healthy(http), "/healthz healthy again once the disk has room"
            )
    finally:
        await ingest.shutdown()


async def _healthy(http: httpx.AsyncClient) -> bool:
    return (await http.get("/healthz")).status_code == 200
