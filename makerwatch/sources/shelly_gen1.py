"""Shelly Gen1 (shelly-api-docs.shelly.cloud/gen1/#shelly-plug-plugs-mqtt): plain text,
one value a topic:

    shellies/<id>/relay/<n>/power    45.12   (W)
    shellies/<id>/relay/<n>/energy   12345   (watt-minutes, since the plug started)
    shellies/<id>/relay/<n>          on | off | overpower
    shellies/<id>/online             true | false  (retained)
    shellies/<id>/announce           {"id":...,"model":"SHPLG-S","fw_ver":"20230913-114008/v1.14.0-gcb84623",...}
    shellies/<id>/relay/<n>/command  off
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from makerwatch.core.source_settings import ShellyGen1Source
from makerwatch.sources.family import (
    ENERGY_WH,
    POWER_W,
    Family,
    Parsed,
    json_object,
    number,
    on_off,
    per_device_login,
    text,
    version,
)  # fmt: skip

__all__ = ["SHELLY_GEN1"]

WATT_MINUTES_PER_WH = 60.0


def _relay(settings: ShellyGen1Source) -> str:
    return f"shellies/{settings.id}/relay/{settings.relay}"


def _topics(settings: ShellyGen1Source) -> list[str]:
    relay = _relay(settings)
    own = f"shellies/{settings.id}"
    return [f"{relay}/power", f"{relay}/energy", relay, f"{own}/online", f"{own}/announce"]


def _parse(settings: ShellyGen1Source, topic: str, payload: bytes, zone: ZoneInfo) -> Parsed:
    if topic.endswith("/announce"):
        return Parsed(extra=version(json_object(topic, payload).get("fw_ver")))
    value = text(topic, payload)
    if topic.endswith("/online"):
        return Parsed(online=on_off(topic, "payload", value))
    if topic.endswith("/power"):
        return Parsed(readings={"power_w": number(topic, "payload", value, *POWER_W)})
    if topic.endswith("/energy"):
        low, high = ENERGY_WH
        watt_minutes = number(topic, "payload", value, low, high * WATT_MINUTES_PER_WH)
        return Parsed(readings={"energy_wh": watt_minutes / WATT_MINUTES_PER_WH})
    # "overpower": the plug cut its relay itself, so it is off.
    return Parsed(relay_on=False if value == "overpower" else on_off(topic, "payload", value))


def _command(settings: ShellyGen1Source, on: bool) -> tuple[str, str]:
    return f"{_relay(settings)}/command", "on" if on else "off"


SHELLY_GEN1: Family[ShellyGen1Source] = Family(
    type="shelly_gen1",
    topics=_topics,
    parse=_parse,
    command=_command,
    writes=lambda s: [f"shellies/{s.id}/#", "shellies/announce"],
    reads=lambda s: [f"shellies/{s.id}/#", "shellies/command"],
    login=per_device_login,
)
