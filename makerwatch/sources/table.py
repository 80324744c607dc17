"""The table of sources: one entry a family, one module an entry.

Our board's protocol comes first: its topics are the protocol's table of message kinds
(core/protocol.py MESSAGE_KINDS), read by ingest's Decoder (ingest/decode.py, wrapped
by `board.py`). Then the smart plugs and other firmware, by the `type` a device's
`source:` names in the site file (core/source_settings.py). Adding a family is one
module with its `Family` and one line here (docs/architecture.md, "Where to add").
"""

from __future__ import annotations

from typing import Any

from makerwatch.core.site_config import Device
from makerwatch.sources.esphome import ESPHOME
from makerwatch.sources.family import Family
from makerwatch.sources.shelly import SHELLY
from makerwatch.sources.shelly_gen1 import SHELLY_GEN1
from makerwatch.sources.tasmota import TASMOTA
from makerwatch.sources.zigbee2mqtt import ZIGBEE2MQTT

__all__ = ["ALIASES", "BOARD", "PLUGS", "family_of"]

BOARD = "board"  # a device without `source:` (sources/board.py)
PLUGS: dict[str, Family[Any]] = {
    family.type: family for family in (TASMOTA, SHELLY, SHELLY_GEN1, ZIGBEE2MQTT, ESPHOME)
}
# Other names the site file may give a family (Shelly's generations share one format).
ALIASES = {"shelly_gen2": "shelly", "shelly_gen3": "shelly", "shelly_gen4": "shelly"}


def family_of(device: Device) -> Family[Any] | None:
    """The family of a device's plug, or None for our board."""
    if device.source is None:
        return None
    return PLUGS[ALIASES.get(device.source.type, device.source.type)]
