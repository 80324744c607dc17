"""Remote switch-on of a plug, through the real broker: sent in each firmware's own
format where the site file says `allow_remote_on: true`, never without it; and the
staff's HTTP API has no switch-on at all (a person at the machine switches it on)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from makerwatch.core.protocol import Command, RelayCommand, command_topic
from makerwatch.core.site_config import SiteConfig, StaffMember
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.sources.plugs import SOURCES, plug_config
from tests.support import mqtt_client, start_ingest

TOKEN = "remote-on-staff-token-0123456789"
# Each firmware's own "on", as its documentation writes it (docs/smart-plugs.md).
SWITCH_ON = {
    "solder-tas": ("cmnd/tasmota_A1B2C3/POWER", "ON"),
    "solder-shelly": ("shellyplusplugs-e86beae8b2c4/rpc", {"method": "Switch.Set", "params": {"id": 0, "on": True}}),
    "solder-gen1": ("shellies/shellyplug-s-C6B2F7/relay/0/command", "on"),
    "solder-z2m": ("zigbee2mqtt/bench/solder plug/set", {"state": "ON"}),
    "solder-esp": ("athom-plug-7/switch/relay/command", "ON"),
}  # fmt: skip


def config_allowing(mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, allow: bool) -> SiteConfig:  # fmt: skip
    config = plug_config(mosquitto.port, influxdb.url)
    allowed = {"allow_remote_on": allow}
    devices = [
        d
        if d.source is None
        else d.model_copy(update={"source": d.source.model_copy(update=allowed)})
        for d in config.devices
    ]
    ingest = config.ingest.model_copy(update={"http_port": free_port()})
    staff = [StaffMember(name="Staff", token=TOKEN)]
    return config.model_copy(update={"devices": devices, "ingest": ingest, "staff": staff})


def as_sent(payload: str) -> object:
    try:
        body = json.loads(payload)
    except ValueError:
        return payload
    if isinstance(body, dict) and "method" in body:  # an RPC: its id and src are ours to choose
        return {"method": body["method"], "params": body["params"]}
    return body


@pytest.mark.parametrize("allow", [True, False])
async def test_switch_on_is_each_firmwares_own_and_only_where_allowed(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, allow: bool
) -> None:
    """Test that a relay "on" for each plug goes out as its firmware's own command when
    the site file allows it and not at all otherwise, and that the HTTP API offers staff
    no switch-on to try (only identify, off and calibrate)."""
    config = config_allowing(mosquitto, influxdb, allow)
    assert set(SWITCH_ON) == set(SOURCES)
    site = config.site.id
    marker = command_topic(site, "solder-1", Command.RELAY)  # a board's command: sent as it is
    running = await start_ingest(config)
    try:
        async with mqtt_client(mosquitto.port) as listener:
            for topic, _ in SWITCH_ON.values():
                await listener.subscribe(topic, qos=1)
            await listener.subscribe(marker, qos=1)
            url = f"http://127.0.0.1:{config.ingest.http_port}"
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:  # fmt: skip
                for device in SWITCH_ON:
                    response = await http.post(f"/devices/{device}/on", json={"on": True})
                    assert response.status_code in (404, 405), response.text
            on = RelayCommand(v=1, on=True, reason="staff").model_dump_json()
            for device in SWITCH_ON:
                await running.service.commands.publish(command_topic(site, device, Command.RELAY), on)  # fmt: skip
            off = RelayCommand(v=1, on=False, reason="staff").model_dump_json()
            await running.service.commands.publish(marker, off)
            received = {}
            async with asyncio.timeout(15):
                async for message in listener.messages:
                    if message.topic.value == marker:
                        break
                    assert isinstance(message.payload, bytes)
                    received[message.topic.value] = as_sent(message.payload.decode())
    finally:
        await running.shutdown()
    expected = {topic: body for topic, body in SWITCH_ON.values()} if allow else {}
    assert received == expected
