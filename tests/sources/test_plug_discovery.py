"""Home Assistant's device page for a plug: its model names the source, and its
`sw_version` is the version the plug announces (Tasmota's INFO1, Shelly Gen1's
announce), read through the same decoder as its readings."""

from __future__ import annotations

import json

import pytest

from makerwatch.core.protocol import STATUS_MEASUREMENT
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.home_assistant import discovery_configs
from makerwatch.sources.board import BoardSource
from makerwatch.sources.router import SiteSources
from tests.ingest.test_home_assistant import check_discovery_schema, with_discovery
from tests.sources.plugs import SOURCES, plug_config

CONFIG = with_discovery(plug_config(1883, "http://127.0.0.1:8086"))
MODELS = {
    "solder-tas": "Tasmota plug", "solder-shelly": "Shelly plug (Gen2+)",
    "solder-gen1": "Shelly plug (Gen1)", "solder-z2m": "Zigbee plug (Zigbee2MQTT)",
    "solder-esp": "ESPHome device", "solder-1": "Makerwatch board",
}  # fmt: skip
ANNOUNCED = [
    # Tasmota 12.2 and later wrap INFO1 in "Info1"; earlier ones do not.
    ("solder-tas", "tele/tasmota_A1B2C3/INFO1",
     {"Info1": {"Module": "Sonoff S31", "Version": "14.2.0(release-tasmota)", "FallbackTopic": "cmnd/DVES_1/", "GroupTopic": "cmnd/tasmotas/"}},
     "14.2.0(release-tasmota)"),
    ("solder-tas", "tele/tasmota_A1B2C3/INFO1", {"Module": "Sonoff Pow", "Version": "9.5.0(tasmota)"}, "9.5.0(tasmota)"),
    ("solder-gen1", "shellies/shellyplug-s-C6B2F7/announce",
     {"id": "shellyplug-s-C6B2F7", "model": "SHPLG-S", "mac": "C45BBEC6B2F7", "ip": "192.168.1.40", "new_fw": False, "fw_ver": "20230913-114008/v1.14.0-gcb84623"},
     "20230913-114008/v1.14.0-gcb84623"),
]  # fmt: skip


@pytest.mark.parametrize("device", list(MODELS))
def test_the_device_model_names_the_source(device: str) -> None:
    """Test that each machine's device block names its source, within the schema."""
    configs = discovery_configs(CONFIG, CONFIG.device(device))  # type: ignore[arg-type]
    for topic, body in configs.items():
        check_discovery_schema(topic, body)
        assert body["device"]["model"] == MODELS[device]
        assert ("manufacturer" in body["device"]) == (device == "solder-1"), "a plug's maker is unknown"  # fmt: skip


@pytest.mark.parametrize(("device", "topic", "body", "version"), ANNOUNCED)
def test_a_plugs_announced_version_is_its_sw_version(
    device: str, topic: str, body: dict[str, object], version: str
) -> None:
    """Test that the version a plug announces is stored with its status as `fw`, and
    that Home Assistant's device block then carries it."""
    site = SiteSources(CONFIG, BoardSource(Decoder(CONFIG)))
    assert topic in site.subscriptions()
    [status] = site.decode(topic, json.dumps(body).encode()).points
    assert (status.measurement, status.tags["device"], status.fields["fw"]) == (STATUS_MEASUREMENT, device, version)  # fmt: skip
    configs = discovery_configs(CONFIG, CONFIG.device(device), status.fields["fw"])  # type: ignore[arg-type]
    assert {body["device"]["sw_version"] for body in configs.values()} == {version}


def test_an_announcement_without_a_version_stores_nothing() -> None:
    site = SiteSources(CONFIG, BoardSource(Decoder(CONFIG)))
    assert site.decode("tele/tasmota_A1B2C3/INFO1", b'{"Info1":{"Module":"x"}}').points == []
    assert SOURCES["solder-tas"]["topic"] == "tasmota_A1B2C3"
