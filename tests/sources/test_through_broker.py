"""Plugs of every firmware through the real Mosquitto into the real InfluxDB: readings in
our units with the device's tags, state from power with hysteresis, online and offline
from the last will, and a left-on station switched off by its plug's own command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest

from makerwatch.api.floor import Tile
from makerwatch.core.protocol import Command, RelayCommand, command_topic
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.sources.plugs import SOURCES, online, plug_config, reading, relay_state
from tests.support import DeadLetters, mqtt_client, publish, start_ingest, stored, wait_until

PERIOD_S = 10.0


@pytest.fixture
def config(mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB) -> SiteConfig:
    return plug_config(mosquitto.port, influxdb.url)


@pytest.fixture
async def influx(config: SiteConfig) -> AsyncIterator[InfluxClient]:
    async with InfluxClient(config.influxdb) as client:
        yield client


async def test_every_firmware_lands_in_influxdb_with_state_and_status(
    config: SiteConfig, mosquitto: EmbeddedMosquitto, influx: InfluxClient
) -> None:
    """Test that each firmware's documented readings are stored in W, V, A and Wh with the
    device's tags; that its state follows its power through the board's own state machine
    (off, in use, still in use just under the threshold, idle); and that its last will
    shows it offline and its birth online again."""
    running = await start_ingest(config)
    t0 = time.time() - 250
    try:
        steps = [
            0.5,
            0.5,
            80.0,
            80.0,
            80.0,
            13.0,
            13.0,
            5.0,
            5.0,
            5.0,
        ]  # 13 W: within hysteresis of 15
        for device in SOURCES:
            tile = running.service.floor.tiles[device]
            await publish(mosquitto.port, [online(device, True)])
            expected = {1: "off", 4: "active", 6: "active", 9: "idle"}
            for i, power in enumerate(steps):
                sent = reading(device, power, t0 + i * PERIOD_S, 1000.0 + i)
                await publish(mosquitto.port, [(topic, body) for topic, body in sent])
                if i in expected:
                    await _stored_readings(influx, device, i + 1)
                    await _shows(tile, expected[i], f"{device} after {i + 1} readings")
            await publish(mosquitto.port, [online(device, False)])
            await _shows(tile, "no_signal", f"{device} by its last will")
            await publish(mosquitto.port, [online(device, True)])
            await _shows(tile, "idle", f"{device} online again")
        rows = await stored(influx, "SELECT last(power_w) AS p, last(energy_wh) AS e, last(voltage_v) AS v, "
                                    "last(current_a) AS a FROM telemetry GROUP BY device, kind, site")  # fmt: skip
        by_device = {r["device"]: r for r in rows}
        for device, source in SOURCES.items():
            row = by_device[device]
            assert (row["site"], row["kind"]) == (config.site.id, "soldering_station")
            assert row["p"] == pytest.approx(5.0)
            assert row["e"] == pytest.approx(1009.0, abs=0.01)
            if source["type"] != "shelly_gen1":
                assert row["v"] == pytest.approx(230.1)
                assert row["a"] == pytest.approx(5 / 230.1, abs=1e-3)
        states = await stored(
            influx, "SELECT state FROM state WHERE derived = true GROUP BY device"
        )
        for device in SOURCES:
            assert [r["state"] for r in states if r["device"] == device] == [
                "off",
                "active",
                "idle",
            ]
            # Hysteresis: 13 W (under 15, over 15 x 0.8) kept it in use; 5 W made it idle.
            low = await stored(
                influx,
                f"SELECT first(power_w) FROM telemetry WHERE device = '{device}' AND power_w > 4 AND power_w < 6 AND time > now() - 1h",
            )
            idle = next(r for r in states if r["device"] == device and r["state"] == "idle")
            assert idle["time"] >= low[0]["time"], f"{device} idle at 13 W"
        # Tasmota's own time (whole seconds), read in the site's zone.
        times = await stored(influx, "SELECT power_w FROM telemetry WHERE device = 'solder-tas'")
        assert times[0]["time"] == int(t0) * 1000
    finally:
        await running.shutdown()


async def _shows(tile: Tile, state: str, what: str) -> None:
    await wait_until(lambda: tile.state == state, f"{state}: {what}")


async def _stored_readings(influx: InfluxClient, device: str, wanted: int) -> None:
    async def enough() -> bool:
        rows = await stored(
            influx, f"SELECT count(power_w) FROM telemetry WHERE device = '{device}'"
        )
        return bool(rows) and rows[0]["count"] >= wanted

    await wait_until(enough, f"{wanted} readings of {device} stored")


async def test_unreadable_plug_payloads_are_dead_lettered_with_reasons(
    config: SiteConfig, mosquitto: EmbeddedMosquitto, dead_letters: DeadLetters
) -> None:
    """Test that malformed plug messages reach the dead-letter topic with their reason and
    ingest carries on."""
    running = await start_ingest(config)
    try:
        await publish(mosquitto.port, [
            ("tele/tasmota_A1B2C3/SENSOR", "{oops"),
            ("shellies/shellyplug-s-C6B2F7/relay/0/power", "lots"),
            ("zigbee2mqtt/bench/solder plug", "[1]"),
        ])  # fmt: skip
        await wait_until(lambda: len(dead_letters.records) >= 3, "three dead letters")
        assert dead_letters.reasons() == ["not_json", "schema", "not_object"]
        assert "solder-gen1" in dead_letters.records[1]["error"]
    finally:
        await running.shutdown()


@contextlib.asynccontextmanager
async def fake_plug(port: int, device: str, power_w: list[float]) -> AsyncIterator[list[str]]:
    """A plug on the broker: reports `power_w[0]` each second and, told to switch off by
    its own command, reports its relay off and draws nothing."""
    source = SOURCES[device]
    commands: list[str] = []
    command_topic = {
        "tasmota": f"cmnd/{source.get('topic')}/POWER",
        "shelly": f"{source.get('prefix')}/rpc",
    }[source["type"]]

    async def run() -> None:
        async with mqtt_client(port) as client:
            await client.subscribe(command_topic, qos=1)
            await client.publish(*relay_state(device, True), qos=1)
            async with asyncio.TaskGroup() as group:
                group.create_task(report(client))
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    commands.append(message.payload.decode())
                    power_w[0] = 0.0
                    await client.publish(*relay_state(device, False), qos=1)

    async def report(client: object) -> None:
        while True:
            for topic, payload in reading(device, power_w[0], time.time()):
                await client.publish(topic, payload, qos=1)  # type: ignore[attr-defined]
            await asyncio.sleep(1.0)  # the plug's telemetry period, shortened

    task = asyncio.create_task(run())
    try:
        yield commands
    finally:
        if task.done():
            task.result()  # the plug itself failed: say how
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("device", ["solder-tas", "solder-shelly"])
async def test_a_left_on_station_is_switched_off_by_its_plugs_own_command(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, device: str
) -> None:
    """Test that a station left on idle behind a plug fires left_on, is switched off by
    the plug's own command (Tasmota POWER OFF, Shelly Switch.Set), which the plug's next
    report confirms, and that the alert resolves."""
    rule = {"rule": "left_on", "devices": [device], "idle_longer_than_min": 0.05,
            "after_closing_grace_min": 0, "on_longer_than_min": None, "auto_off_after_min": 0.05}  # fmt: skip
    config = plug_config(mosquitto.port, influxdb.url, alerts={"rules": [rule]})
    running = await start_ingest(config)
    alert_id = f"left_on-{device}"
    try:
        async with (
            InfluxClient(config.influxdb) as influx,
            fake_plug(mosquitto.port, device, [8.0]) as commands,
        ):

            async def has(status: str) -> bool:
                rows = await stored(
                    influx, f"SELECT message, status FROM alert WHERE alert_id = '{alert_id}'"
                )
                return status in [r["status"] for r in rows]

            await wait_until(lambda: has("auto_off_sent"), "the switch-off sent", within_s=60)
            await wait_until(
                lambda: has("auto_off_confirmed"), "the plug's confirmation", within_s=60
            )
            await wait_until(lambda: has("resolved"), "resolved once off", within_s=60)
            rows = await stored(
                influx, f"SELECT message, status FROM alert WHERE alert_id = '{alert_id}'"
            )
        # Each once (the engine confirms only what it sent). Stored times may swap "sent" and
        # "confirmed" within a second: Tasmota's Time has whole seconds, its POWER none.
        assert sorted(r["status"] for r in rows) == sorted(
            ["fired", "auto_off_sent", "auto_off_confirmed", "resolved"]
        )
        if device == "solder-tas":
            assert commands == ["OFF"]
        else:
            request = json.loads(commands[0])
            assert (request["method"], request["params"]) == ("Switch.Set", {"id": 0, "on": False})
    finally:
        await running.shutdown()


async def test_staff_and_the_engine_switch_a_plug_only_off_and_a_board_as_before(
    config: SiteConfig, mosquitto: EmbeddedMosquitto
) -> None:
    """Test that a relay command for a plug device goes out as the plug's own off command,
    that switching on is not sent unless the site file allows it, and that a board's
    relay command goes out as it is."""
    running = await start_ingest(config)
    site = config.site.id
    board_topic = command_topic(site, "solder-1", Command.RELAY)
    try:
        async with mqtt_client(mosquitto.port) as listener:
            await listener.subscribe("zigbee2mqtt/#", qos=1)
            await listener.subscribe(board_topic, qos=1)
            commands = running.service.commands
            for device, on in (("solder-z2m", True), ("solder-z2m", False), ("solder-1", False)):
                relay = RelayCommand(v=1, on=on, reason="staff").model_dump_json()
                await commands.publish(command_topic(site, device, Command.RELAY), relay)
            received = []
            async with asyncio.timeout(15):
                async for message in listener.messages:
                    assert isinstance(message.payload, bytes)
                    received.append((message.topic.value, message.payload.decode()))
                    if message.topic.value == board_topic:
                        break
    finally:
        await running.shutdown()
    assert received[0] == ("zigbee2mqtt/bench/solder plug/set", '{"state": "OFF"}')
    assert len(received) == 2, "no switch-on sent: the site file does not allow it"
    assert json.loads(received[1][1])["on"] is False
