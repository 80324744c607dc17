"""The MQTT source against the real Mosquitto: what happens when two processes want one
session."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from makerwatch.core.site_config import MqttSettings
from makerwatch.ingest.counters import IngestCounters
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.source import Ack, MqttSource, SessionTakenOver
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.support import (
    WAIT_TIMEOUT_S,
    IngestProcess,
    count_points,
    ingest_process,
    make_config,
    publish,
    wait_until,
)


async def test_a_second_ingest_with_the_same_client_id_stops_one_of_the_two_naming_it(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test that two real ingest processes with one client id do not take the session
    from each other for ever: one stops (exit 1) with one line naming the client id, the
    other keeps the session and stores what boards send."""
    config = make_config(mosquitto.port, own_influxdb.url)
    async with ingest_process(config, tmp_path / "running") as running:
        second = IngestProcess(config, tmp_path / "by-hand")
        second.start()
        try:

            def one_stopped() -> bool:
                return running.process.poll() is not None or second.process.poll() is not None  # type: ignore[union-attr]

            await wait_until(one_stopped, "one of the two ingests to stop", within_s=60)
            stopped, kept = (
                (running, second) if running.process.poll() is not None else (second, running)
            )  # type: ignore[union-attr]
            assert stopped.process.returncode == 1  # type: ignore[union-attr]
            last = stopped.log.read_text().strip().splitlines()[-1]
            assert last.startswith(
                f"makerwatch: MQTT 127.0.0.1:{mosquitto.port}: another process holds client id "
                f"{config.mqtt.client_id!r} (the broker closed the session 3 times in a row"
            ), last

            def holds_the_session() -> bool:
                log = kept.log.read_text()
                return log.rfind("subscribed to") > log.rfind("reconnecting")

            await wait_until(holds_the_session, "the other to hold the session")
            assert kept.process.poll() is None  # type: ignore[union-attr]
            body = {"v": 1, "ts": time.time(), "seq": 1, "power_w": 42.5}
            await publish(
                mosquitto.port,
                [(f"makerspace/{config.site.id}/solder-1/telemetry", json.dumps(body))],
            )
            async with InfluxClient(config.influxdb) as influx:

                async def stored() -> bool:
                    return await count_points(influx) == 1

                await wait_until(stored, "the reading stored by the ingest that kept the session")
        finally:
            second.stop()


async def _packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One MQTT control packet: (type and flags byte, body)."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return first, await reader.readexactly(length)


async def test_a_session_taken_over_by_an_mqtt5_broker_stops_at_once_naming_the_client_id() -> None:
    """Test that a broker's DISCONNECT with reason 0x8E (session taken over: MQTT 5.0,
    3.14.2.1), as Mosquitto after 2.0.11 and other v5 brokers send it, stops the source at
    the first one with SessionTakenOver naming the client id. The broker is a script of
    the exact bytes: the Mosquitto here (2.0.11) closes without a DISCONNECT."""
    disconnects = 0

    async def broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal disconnects
        kind, _ = await _packet(reader)
        assert kind == 0x10  # CONNECT
        writer.write(bytes([0x20, 3, 0, 0, 0]))  # CONNACK: no session, success, no properties
        kind, body = await _packet(reader)
        assert kind == 0x82  # SUBSCRIBE
        writer.write(bytes([0x90, 4, *body[:2], 0, 1]))  # SUBACK: QoS 1 granted
        writer.write(bytes([0xE0, 2, 0x8E, 0]))  # DISCONNECT: session taken over
        disconnects += 1
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def handle(topic: str, payload: bytes, retained: bool, ack: Ack) -> None:
        ack()

    settings = MqttSettings(host="127.0.0.1", port=port, client_id="ingest-by-hand")
    source = MqttSource(settings, ["makerspace/+/+/telemetry"], handle, IngestCounters())

    async def nothing_held() -> None:
        pass

    try:
        with pytest.raises(SessionTakenOver) as stopped:
            await asyncio.wait_for(source.run(asyncio.Event(), nothing_held), WAIT_TIMEOUT_S)
    finally:
        server.close()
        await server.wait_closed()
    assert str(stopped.value).startswith(
        f"MQTT 127.0.0.1:{port}: another process holds client id 'ingest-by-hand' "
        "(the broker took the session over: MQTT v5 reason 0x8E)"
    )
    assert disconnects == 1, "stopped at the first"
    assert not source.subscribed.is_set()
