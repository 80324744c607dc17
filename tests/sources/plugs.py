"""A site of plugs, one of each firmware, and their payloads as each firmware's
documentation writes them (docs/smart-plugs.md cites the pages)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.site_config import SiteConfig

ZONE = "Asia/Almaty"
_unique = itertools.count(1)

# device id -> its source, as a site file says it
SOURCES: dict[str, dict[str, Any]] = {
    "solder-tas": {"type": "tasmota", "topic": "tasmota_A1B2C3"},
    "solder-shelly": {"type": "shelly", "prefix": "shellyplusplugs-e86beae8b2c4"},
    "solder-gen1": {"type": "shelly_gen1", "id": "shellyplug-s-C6B2F7"},
    "solder-z2m": {"type": "zigbee2mqtt", "friendly_name": "bench/solder plug"},
    "solder-esp": {"type": "esphome", "node": "athom-plug-7", "energy": "energy",
                   "energy_unit": "kWh", "voltage": "voltage", "current": "current",
                   "switch": "relay"},
}  # fmt: skip
# Firmware whose messages carry no time of their own: the state's dwell is off, so the
# derived state follows readings that arrive a moment apart.
NO_PAYLOAD_TIME = {"solder-gen1", "solder-z2m", "solder-esp"}


def plug_config(
    mqtt_port: int, influx_url: str, alerts: dict[str, Any] | None = None
) -> SiteConfig:
    n = next(_unique)
    devices = [
        {"id": device, "name": device, "kind": "soldering_station", "source": source,
         **({"board": {"min_dwell_s": 0}} if device in NO_PAYLOAD_TIME else {})}
        for device, source in SOURCES.items()
    ]  # fmt: skip
    return SiteConfig.model_validate({
        "site": {"id": f"plugs-{n}", "name": "Plugs", "timezone": ZONE},
        "devices": [*devices, {"id": "solder-1", "name": "Board", "kind": "soldering_station"}],
        "mqtt": {"port": mqtt_port, "client_id": f"ingest-plugs-{n}"},
        "influxdb": {"url": influx_url, "database": f"plugs_{n}"},
        "ingest": {"batch_max_age_s": 0.05, "http_port": None, "spool_dir": None},
        "alerts": alerts or {},
    })  # fmt: skip


def local_time(ts: float) -> str:
    """Tasmota's `Time`: the plug's local time, no zone."""
    return (
        dt.datetime.fromtimestamp(ts, ZoneInfo(ZONE))
        .replace(tzinfo=None)
        .isoformat(timespec="seconds")
    )


def reading(
    device: str, power_w: float, ts: float, energy_wh: float = 1500.0
) -> list[tuple[str, str]]:
    """One reading of `device` in its firmware's own format: power, 230.1 V, the current
    that power draws, and its energy counter."""
    current_a = round(power_w / 230.1, 3)
    source = SOURCES[device]
    if source["type"] == "tasmota":
        body = {"Time": local_time(ts), "ENERGY": {
            "TotalStartTime": "2026-01-01T00:00:00", "Total": energy_wh / 1000, "Yesterday": 0.1,
            "Today": 0.05, "Period": 0, "Power": power_w, "ApparentPower": power_w,
            "ReactivePower": 0, "Factor": 1.0, "Voltage": 230.1, "Current": current_a}}  # fmt: skip
        return [(f"tele/{source['topic']}/SENSOR", json.dumps(body))]
    if source["type"] == "shelly":
        status = {"id": 0, "source": "timer", "output": power_w > 0, "apower": power_w,
                  "voltage": 230.1, "freq": 50.0, "current": current_a,
                  "aenergy": {"total": energy_wh, "by_minute": [0, 0, 0], "minute_ts": int(ts)},
                  "temperature": {"tC": 41.2, "tF": 106.2}}  # fmt: skip
        body = {"src": source["prefix"], "dst": f"{source['prefix']}/events", "method": "NotifyStatus",
                "params": {"ts": ts, "switch:0": status}}  # fmt: skip
        return [(f"{source['prefix']}/events/rpc", json.dumps(body))]
    if source["type"] == "shelly_gen1":
        relay = f"shellies/{source['id']}/relay/0"
        return [
            (f"{relay}/power", f"{power_w:.2f}"),
            (f"{relay}/energy", str(round(energy_wh * 60))),
        ]
    if source["type"] == "zigbee2mqtt":
        z2m = {"state": "ON", "power": power_w, "voltage": 230.1, "current": current_a,
                "energy": energy_wh / 1000, "linkquality": 120}  # fmt: skip
        return [(f"zigbee2mqtt/{source['friendly_name']}", json.dumps(z2m))]
    node = source["node"]
    return [(f"{node}/sensor/power/state", f"{power_w:.1f}"), (f"{node}/sensor/voltage/state", "230.1"),
            (f"{node}/sensor/current/state", f"{current_a:.3f}"),
            (f"{node}/sensor/energy/state", f"{energy_wh / 1000:.4f}")]  # fmt: skip


def online(device: str, is_online: bool) -> tuple[str, str]:
    """The plug's last will or birth message (retained by the firmware)."""
    source = SOURCES[device]
    if source["type"] == "tasmota":
        return f"tele/{source['topic']}/LWT", "Online" if is_online else "Offline"
    if source["type"] == "shelly":
        return f"{source['prefix']}/online", json.dumps(is_online)
    if source["type"] == "shelly_gen1":
        return f"shellies/{source['id']}/online", json.dumps(is_online)
    if source["type"] == "zigbee2mqtt":
        body = json.dumps({"state": "online" if is_online else "offline"})
        return f"zigbee2mqtt/{source['friendly_name']}/availability", body
    return f"{source['node']}/status", "online" if is_online else "offline"


def relay_state(device: str, on: bool) -> tuple[str, str]:
    """The plug reporting its relay's position (as it does after a command)."""
    source = SOURCES[device]
    word = "ON" if on else "OFF"
    if source["type"] == "tasmota":
        return f"stat/{source['topic']}/POWER", word
    if source["type"] == "shelly":
        body = {"src": source["prefix"], "method": "NotifyStatus",
                "params": {"ts": 0, "switch:0": {"id": 0, "output": on, "apower": 0 if not on else 40}}}  # fmt: skip
        return f"{source['prefix']}/events/rpc", json.dumps(body)
    if source["type"] == "shelly_gen1":
        return f"shellies/{source['id']}/relay/0", word.lower()
    if source["type"] == "zigbee2mqtt":
        return f"zigbee2mqtt/{source['friendly_name']}", json.dumps({"state": word})
    return f"{source['node']}/switch/relay/state", word
