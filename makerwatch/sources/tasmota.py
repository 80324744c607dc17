"""Tasmota (tasmota.github.io/docs/MQTT/, /Commands/#power, /Power-Monitoring/), with
its default FullTopic `%prefix%/%topic%/`:

    tele/<topic>/SENSOR   {"Time":"2026-12-07T10:30:00","ENERGY":{"Total":1.234,"Power":45,
                           "Voltage":230,"Current":0.196,...}}   (Total in kWh; a plug of
                           several channels sends Power, Current, ... as arrays)
    tele/<topic>/STATE    {"Time":...,"POWER":"ON","Wifi":{"Signal":-61,...},...}
    stat/<topic>/POWER    ON | OFF  (POWER<n> on a plug of several relays)
    stat/<topic>/RESULT   {"POWER":"OFF"} (the answer to a command)
    tele/<topic>/LWT      Online | Offline  (retained)
    tele/<topic>/INFO1    {"Info1":{"Module":"Sonoff S31","Version":"14.2.0(release-tasmota)",...}}
                          (at each connection; before 12.2 without the "Info1" wrapper)
    cmnd/<topic>/POWER    OFF       (POWER<n>)

`Time` is the plug's local time without a zone: read in the site's time zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.protocol import DeadLetterReason
from makerwatch.core.source_settings import TasmotaSource
from makerwatch.sources.family import (
    CURRENT_A,
    ENERGY_WH,
    POWER_W,
    VOLTAGE_V,
    WH_PER_KWH,
    Family,
    Parsed,
    Unreadable,
    json_object,
    number,
    on_off,
    online_word,
    per_device_login,
    text,
    version,
)  # fmt: skip

__all__ = ["TASMOTA"]

# ENERGY's keys we store, with what they become and in which range.
_ENERGY = {
    "Power": ("power_w", POWER_W, 1.0),
    "Voltage": ("voltage_v", VOLTAGE_V, 1.0),
    "Current": ("current_a", CURRENT_A, 1.0),
    "Total": ("energy_wh", ENERGY_WH, WH_PER_KWH),
}


def _power_key(settings: TasmotaSource) -> str:
    return f"POWER{settings.channel}" if settings.channel else "POWER"


def _topics(settings: TasmotaSource) -> list[str]:
    t = settings.topic
    # A one-relay plug says POWER, or POWER1 with SetOption26 on.
    relays = [_power_key(settings)] if settings.channel else ["POWER", "POWER1"]
    return [f"tele/{t}/SENSOR", f"tele/{t}/STATE", f"tele/{t}/LWT", f"tele/{t}/INFO1", f"stat/{t}/RESULT",
            *(f"stat/{t}/{relay}" for relay in relays)]  # fmt: skip


def _parse(settings: TasmotaSource, topic: str, payload: bytes, zone: ZoneInfo) -> Parsed:
    kind = topic.rsplit("/", 1)[-1]
    if kind == "LWT":
        return Parsed(online=online_word(topic, text(topic, payload), "Online", "Offline"))
    if kind.startswith("POWER"):
        return Parsed(relay_on=on_off(topic, "payload", text(topic, payload)))
    body = json_object(topic, payload)
    if kind == "INFO1":
        info = body.get("Info1", body)
        return Parsed(extra=version(info.get("Version") if isinstance(info, dict) else None))
    relay = _relay(settings, topic, body)
    if kind == "RESULT":
        return Parsed(relay_on=relay)
    ts = _time(topic, body.get("Time"), zone)
    simulated = body.get("sim") is True
    if kind == "STATE":
        wifi = body.get("Wifi")
        signal = wifi.get("Signal") if isinstance(wifi, dict) else None
        extra = {"rssi_dbm": int(signal)} if isinstance(signal, int) and -120 <= signal <= 0 else {}
        return Parsed(extra=extra, relay_on=relay, ts=ts, simulated=simulated)
    energy = body.get("ENERGY")
    if not isinstance(energy, dict):
        raise Unreadable(
            DeadLetterReason.SCHEMA, f"{topic}: no ENERGY object (not a metering plug?)"
        )
    readings = _readings(settings, topic, energy)
    return Parsed(readings=readings, ts=ts, simulated=simulated)


def _relay(settings: TasmotaSource, topic: str, body: dict[str, Any]) -> bool | None:
    """POWER (or POWER<n>); a single-relay plug says POWER, some builds POWER1."""
    key = _power_key(settings)
    for name in (key, "POWER1") if key == "POWER" else (key,):
        if name in body:
            return on_off(topic, name, body[name])
    return None


def _readings(settings: TasmotaSource, topic: str, energy: dict[str, Any]) -> dict[str, float]:
    readings: dict[str, float] = {}
    for key, (name, (low, high), scale) in _ENERGY.items():
        if key not in energy:
            continue
        value = _channel(settings, topic, key, energy[key])
        if value is not None:
            readings[name] = (
                number(topic, f"ENERGY.{key}", value, low / scale, high / scale) * scale
            )
    if not readings:
        raise Unreadable(
            DeadLetterReason.SCHEMA, f"{topic}: ENERGY has none of Power, Voltage, Current, Total"
        )
    return readings


def _channel(settings: TasmotaSource, topic: str, key: str, value: object) -> object:
    """One channel's value of an array: the configured one; without one, power, current
    and energy summed over the channels and the highest voltage (one mains lead)."""
    if not isinstance(value, list):
        return value
    if not value:
        return None
    if settings.channel is not None:
        if settings.channel > len(value):
            raise Unreadable(
                DeadLetterReason.SCHEMA,
                f"{topic}: ENERGY.{key} has {len(value)} channels, not channel {settings.channel}",
            )
        return value[settings.channel - 1]
    values = [number(topic, f"ENERGY.{key}", v, -1e12, 1e12) for v in value]
    return max(values) if key == "Voltage" else sum(values)


def _time(topic: str, value: object, zone: ZoneInfo) -> float | None:
    """Tasmota's `Time`: ISO 8601 local time without a zone (with one, if its
    SetOption52 is on), read in the site's zone."""
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise Unreadable(
            DeadLetterReason.SCHEMA, f"{topic}: Time: {str(value)[:40]!r} is not a time"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.timestamp()


def _command(settings: TasmotaSource, on: bool) -> tuple[str, str]:
    return f"cmnd/{settings.topic}/{_power_key(settings)}", "ON" if on else "OFF"


TASMOTA: Family[TasmotaSource] = Family(
    type="tasmota",
    topics=_topics,
    parse=_parse,
    command=_command,
    writes=lambda s: [f"tele/{s.topic}/#", f"stat/{s.topic}/#"],
    reads=lambda s: [f"cmnd/{s.topic}/#"],
    login=per_device_login,
)
