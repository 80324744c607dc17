"""Zigbee2MQTT (zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html, the metering
plugs' exposes): one JSON state a device, published by the bridge:

    zigbee2mqtt/<friendly name>               {"state":"ON","power":45,"voltage":230,
                                               "current":0.2,"energy":1.23,...}  (energy kWh)
    zigbee2mqtt/<friendly name>/availability  {"state":"online"} (or, before 1.36's
                                               default, plain online | offline)
    zigbee2mqtt/<friendly name>/set           {"state":"OFF"}

The plugs are not MQTT clients: the bridge is, so the login and the ACL are the
bridge's, one per base topic.
"""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from makerwatch.core.protocol import DeadLetterReason
from makerwatch.core.source_settings import Zigbee2MqttSource
from makerwatch.sources.family import (
    CURRENT_A,
    ENERGY_WH,
    POWER_W,
    TEMP_C,
    VOLTAGE_V,
    WH_PER_KWH,
    Family,
    Parsed,
    Unreadable,
    json_object,
    number,
    on_off,
    online_word,
    text,
)  # fmt: skip

__all__ = ["ZIGBEE2MQTT"]

_FIELDS = {
    "power": ("power_w", POWER_W, 1.0),
    "voltage": ("voltage_v", VOLTAGE_V, 1.0),
    "current": ("current_a", CURRENT_A, 1.0),
    "energy": ("energy_wh", ENERGY_WH, WH_PER_KWH),
}


def _device(settings: Zigbee2MqttSource) -> str:
    return f"{settings.base_topic}/{settings.friendly_name}"


def _parse(settings: Zigbee2MqttSource, topic: str, payload: bytes, zone: ZoneInfo) -> Parsed:
    if topic.endswith("/availability") and topic != _device(settings):
        return Parsed(online=_availability(topic, payload))
    body = json_object(topic, payload)
    readings = {}
    for key, (name, (low, high), scale) in _FIELDS.items():
        if body.get(key) is not None:
            readings[name] = number(topic, key, body[key], low / scale, high / scale) * scale
    extra = {}
    if body.get("device_temperature") is not None:  # the plug's own, not the machine's
        extra["plug_temp_c"] = number(
            topic, "device_temperature", body["device_temperature"], *TEMP_C
        )
    state = body.get("state")
    relay = on_off(topic, "state", state) if state is not None else None
    return Parsed(readings=readings, extra=extra, relay_on=relay, simulated=body.get("sim") is True)


def _availability(topic: str, payload: bytes) -> bool:
    value = text(topic, payload)
    if value.startswith("{"):
        state = json_object(topic, payload).get("state")
        if not isinstance(state, str):
            raise Unreadable(DeadLetterReason.SCHEMA, f"{topic}: no state in the availability")
        value = state
    return online_word(topic, value, "online", "offline")


def _command(settings: Zigbee2MqttSource, on: bool) -> tuple[str, str]:
    return f"{_device(settings)}/set", json.dumps({"state": "ON" if on else "OFF"})


def _login(site: str, device: str, settings: Zigbee2MqttSource) -> str:
    return f"{site}.{settings.base_topic.replace('/', '.')}-bridge"


ZIGBEE2MQTT: Family[Zigbee2MqttSource] = Family(
    type="zigbee2mqtt",
    topics=lambda s: [_device(s), f"{_device(s)}/availability"],
    parse=_parse,
    command=_command,
    writes=lambda s: [f"{s.base_topic}/#"],
    reads=lambda s: [f"{s.base_topic}/#"],
    login=_login,
)
