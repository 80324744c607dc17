"""A device's `source:` in the site file, checked by check-config with the device named."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import makerwatch

GOOD = "{id: p1, name: P, kind: soldering_station, source: {type: tasmota, topic: plug1}}"


@pytest.mark.parametrize(("device", "said"), [
    ("{id: p2, name: P, kind: other, source: {type: tasmot, topic: x}}",
     "devices[p2].source: Input tag 'tasmot'"),
    ("{id: p2, name: P, kind: other, source: {type: shelly, prefix: 'a/+/b'}}",
     "devices[p2].source.shelly.prefix: 'a/+/b': no +, #"),
    ("{id: p2, name: P, kind: other, source: {type: esphome, node: makerspace}}",
     "makerspace/ is our boards' topic tree"),
    ("{id: p2, name: P, kind: other, source: {type: zigbee2mqtt}}",
     "devices[p2].source.zigbee2mqtt.friendly_name: Field required"),
    ("{id: p2, name: P, kind: other, source: {type: tasmota, topic: plug1}}",
     "device 'p2' reads the same plug as device 'p1'"),
])  # fmt: skip
def test_check_config_names_the_device_of_a_wrong_source(
    tmp_path: Path, device: str, said: str
) -> None:
    """Test that a wrong plug source is refused in a line naming the device."""
    site = tmp_path / "site.yaml"
    site.write_text(f"site: {{id: s, name: S}}\ndevices:\n  - {GOOD}\n  - {device}\n")
    result = makerwatch("check-config", str(site))
    assert result.returncode == 1
    assert said in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_every_family(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("""site: {id: s, name: S}
devices:
  - {id: a, name: A, kind: other, source: {type: tasmota, topic: plug1, channel: 2}}
  - {id: b, name: B, kind: other, source: {type: shelly, prefix: shellyplusplugs-1, switch: 0}}
  - {id: c, name: C, kind: other, source: {type: shelly_gen1, id: shellyplug-s-1, relay: 0}}
  - {id: d, name: D, kind: other, source: {type: zigbee2mqtt, friendly_name: bench plug}}
  - {id: e, name: E, kind: other, source: {type: esphome, node: plug-e, energy: energy, energy_unit: kWh, switch: relay}}
""")
    result = makerwatch("check-config", str(site))
    assert result.returncode == 0, result.stdout + result.stderr
