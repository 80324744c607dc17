"""Where a device that is not our board publishes: a device's `source:` in the site
file, one model per firmware family (docs/smart-plugs.md). The families' topics,
decoding and commands are in makerwatch/sources/; this is only what a site file says.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from makerwatch.core.protocol import TOPIC_ROOT

__all__ = [
    "EnergyUnit",
    "EsphomeSource",
    "PlugSource",
    "ShellyGen1Source",
    "ShellySource",
    "TasmotaSource",
    "Zigbee2MqttSource",
    "bridged_plugs_prefix",
]


def _topic_levels(value: str) -> str:
    """A part of a topic the plug publishes under: one or more levels, no wildcards."""
    if not value or any(not level for level in value.split("/")):
        raise ValueError(f"{value!r}: an empty topic level")
    if any(char in value for char in "+#\0") or value.startswith("$"):
        raise ValueError(f"{value!r}: no +, # or leading $ in a plug's topic")
    if value.split("/")[0] == TOPIC_ROOT:
        raise ValueError(f"{value!r}: {TOPIC_ROOT}/ is our boards' topic tree")
    return value


def bridged_plugs_prefix(site: str) -> str:
    """Where a site's bridge puts its plugs' own topics on a network's central broker:
    `makerspace/<site>/_plugs/tele/tasmota_A1B2C3/SENSOR`. Plugs' topics are not under
    the site's tree, and two sites may have plugs of the same topic."""
    return f"{TOPIC_ROOT}/{site}/_plugs/"


TopicPart = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_topic_levels)]


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Remote switch-on through the plug: off unless the site file allows it (a remote
    # command may only make a machine safer).
    allow_remote_on: bool = False
    # What Home Assistant's device page calls it (its `model`).
    device_model: ClassVar[str]

    @property
    def has_relay(self) -> bool:
        return True


class TasmotaSource(_Source):
    device_model: ClassVar[str] = "Tasmota plug"
    type: Literal["tasmota"]
    topic: TopicPart  # Tasmota's Topic (MQTT settings), %topic% in its FullTopic
    # A plug of several relays: which one the machine is on (Tasmota's POWER<n>, from 1).
    # Without it, a plug's readings are summed over its channels and its relay is POWER.
    channel: int | None = Field(default=None, ge=1, le=8)


class ShellySource(_Source):
    """A Shelly Gen2, Gen3 or Gen4 device (one RPC and MQTT format)."""

    device_model: ClassVar[str] = "Shelly plug (Gen2+)"
    type: Literal["shelly", "shelly_gen2", "shelly_gen3", "shelly_gen4"]  # one format
    prefix: TopicPart  # its MQTT topic prefix (default: the device id, shellyplusplugs-<mac>)
    switch: int = Field(default=0, ge=0, le=15)  # the switch:<id> component


class ShellyGen1Source(_Source):
    device_model: ClassVar[str] = "Shelly plug (Gen1)"
    type: Literal["shelly_gen1"]
    id: TopicPart  # shellies/<id>/..., e.g. shellyplug-s-C6B2F7
    relay: int = Field(default=0, ge=0, le=15)


class Zigbee2MqttSource(_Source):
    device_model: ClassVar[str] = "Zigbee plug (Zigbee2MQTT)"
    type: Literal["zigbee2mqtt"]
    friendly_name: TopicPart
    base_topic: TopicPart = "zigbee2mqtt"


class EnergyUnit(StrEnum):
    WH = "Wh"
    KWH = "kWh"


class EsphomeSource(_Source):
    """An ESPHome node's MQTT component: each sensor's object id, as ESPHome names its
    topic (<node>/sensor/<object id>/state)."""

    device_model: ClassVar[str] = "ESPHome device"
    type: Literal["esphome"]
    node: TopicPart  # its topic_prefix (by default the node's name)
    power: str | None = Field(default="power", min_length=1, pattern=r"^[a-z0-9_]+$")
    energy: str | None = Field(default=None, min_length=1, pattern=r"^[a-z0-9_]+$")
    energy_unit: EnergyUnit = EnergyUnit.WH  # its sensor's unit_of_measurement
    voltage: str | None = Field(default=None, min_length=1, pattern=r"^[a-z0-9_]+$")
    current: str | None = Field(default=None, min_length=1, pattern=r"^[a-z0-9_]+$")
    switch: str | None = Field(default=None, min_length=1, pattern=r"^[a-z0-9_]+$")

    @property
    def has_relay(self) -> bool:
        return self.switch is not None


PlugSource = Annotated[
    TasmotaSource | ShellySource | ShellyGen1Source | Zigbee2MqttSource | EsphomeSource,
    Field(discriminator="type"),
]
