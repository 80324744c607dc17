"""ESPHome's MQTT component (esphome.io/components/mqtt.html): plain text, one topic a
component, under the node's topic prefix (by default its name):

    <node>/sensor/<object id>/state   45.1   (in its sensor's unit_of_measurement;
                                             nan while it has no value)
    <node>/switch/<object id>/state   ON | OFF
    <node>/status                     online | offline  (birth and last will, retained)
    <node>/switch/<object id>/command OFF

Which sensor is which (and the energy sensor's unit) the site file says.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from makerwatch.core.source_settings import EnergyUnit, EsphomeSource
from makerwatch.sources.family import (
    CURRENT_A,
    ENERGY_WH,
    POWER_W,
    VOLTAGE_V,
    WH_PER_KWH,
    Family,
    Parsed,
    number,
    on_off,
    online_word,
    per_device_login,
    text,
)  # fmt: skip

__all__ = ["ESPHOME"]

WH_PER_UNIT = {EnergyUnit.WH: 1.0, EnergyUnit.KWH: WH_PER_KWH}


def _sensors(settings: EsphomeSource) -> dict[str, tuple[str, tuple[float, float], float]]:
    """Each configured sensor's topic -> (reading, its range, factor to our unit)."""
    scale = WH_PER_UNIT[settings.energy_unit]
    named = (
        (settings.power, "power_w", POWER_W, 1.0),
        (settings.voltage, "voltage_v", VOLTAGE_V, 1.0),
        (settings.current, "current_a", CURRENT_A, 1.0),
        (settings.energy, "energy_wh", ENERGY_WH, scale),
    )
    return {
        f"{settings.node}/sensor/{name}/state": (reading, limits, factor)
        for name, reading, limits, factor in named
        if name is not None
    }


def _topics(settings: EsphomeSource) -> list[str]:
    switch = [f"{settings.node}/switch/{settings.switch}/state"] if settings.switch else []
    return [*_sensors(settings), *switch, f"{settings.node}/status"]


def _parse(settings: EsphomeSource, topic: str, payload: bytes, zone: ZoneInfo) -> Parsed:
    value = text(topic, payload)
    if topic == f"{settings.node}/status":
        return Parsed(online=online_word(topic, value, "online", "offline"))
    sensor = _sensors(settings).get(topic)
    if sensor is None:
        return Parsed(relay_on=on_off(topic, "payload", value))
    if value.lower() == "nan":
        return Parsed()  # the sensor has no value yet: nothing to store
    reading, (low, high), factor = sensor
    return Parsed(
        readings={reading: number(topic, "payload", value, low / factor, high / factor) * factor}
    )


def _command(settings: EsphomeSource, on: bool) -> tuple[str, str]:
    return f"{settings.node}/switch/{settings.switch}/command", "ON" if on else "OFF"


ESPHOME: Family[EsphomeSource] = Family(
    type="esphome",
    topics=_topics,
    parse=_parse,
    command=_command,
    writes=lambda s: [f"{s.node}/#"],
    reads=lambda s: [f"{s.node}/#"],
    login=per_device_login,
)
