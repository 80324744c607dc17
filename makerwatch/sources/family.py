"""What a family of sources is (one entry of the table in `makerwatch.sources.table`):
the topics it reads, how one of its messages becomes a reading, a relay position and
online/offline, and how its relay is switched. Each family's module builds one
`Family`; nothing here knows MQTT clients, InfluxDB or the pipeline.

A family's `parse` is liberal in what real firmware sends (extra fields, numbers as
ints or as text, ON/OFF or true/false) and strict on what cannot be read: it raises
`Unreadable` with a dead-letter reason and a sentence naming the topic and field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from makerwatch.core.protocol import MAX_JSON_DEPTH, DeadLetterReason

__all__ = [
    "WH_PER_KWH",
    "Family", "Parsed", "Unreadable", "json_object", "number", "on_off", "text",
]  # fmt: skip

S = TypeVar("S")


class Unreadable(Exception):
    """A plug's message that cannot be read; dead-lettered under `reason`."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Parsed:
    """What one message said about one device; each part may be absent.

    `readings` uses the protocol's reading names and units (power_w, voltage_v,
    current_a, energy_wh); `extra` holds fields of its own (the plug's own temperature,
    its Wi-Fi signal); `ts` is the payload's own time (UTC epoch seconds), if it has one.
    """

    readings: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, float | int | str | bool] = field(default_factory=dict)
    relay_on: bool | None = None
    online: bool | None = None
    ts: float | None = None
    simulated: bool = False

    def without_measurements(self) -> Parsed:
        """Only the relay and online: what a message tells that the full status does not."""
        return replace(self, readings={}, extra={})


Parse = Callable[[S, str, bytes, ZoneInfo], Parsed]


@dataclass(frozen=True)
class Family(Generic[S]):
    """One kind of source. `S` is its site-file settings (core/source_settings.py)."""

    type: str
    # Exact topics ingest subscribes to for one device (no wildcards: the router looks
    # a topic up, and a plug's other chatter never reaches ingest).
    topics: Callable[[S], list[str]]
    parse: Parse[S]
    # (topic, payload) that switches the relay; `on` only where the site file allows it.
    command: Callable[[S, bool], tuple[str, str]]
    # The broker's ACL for the plug's own login: the trees it may write, and read.
    writes: Callable[[S], list[str]]
    reads: Callable[[S], list[str]]
    # Its login: one per plug, or one per bridge for plugs behind one (Zigbee2MQTT).
    login: Callable[[str, str, S], str]
    # A topic carrying the whole status, where the firmware also sends the same instant's
    # changes on another topic (Shelly Gen2+): once a device is heard on it, its other
    # topics give only relay and online, so each measurement is stored once.
    full_status: Callable[[S], str | None] = lambda settings: None


def per_device_login(site: str, device: str, settings: object) -> str:
    return f"{site}.{device}"


def text(topic: str, payload: bytes) -> str:
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise Unreadable(
            DeadLetterReason.NOT_UTF8, f"{topic}: payload is not UTF-8 ({exc.reason})"
        ) from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_object(topic: str, payload: bytes) -> dict[str, Any]:
    body_text = text(topic, payload)
    if payload.count(b"{") + payload.count(b"[") > 4 * MAX_JSON_DEPTH and _too_deep(payload):
        raise Unreadable(DeadLetterReason.TOO_DEEP, f"{topic}: JSON nested too deep")
    try:
        body = json.loads(body_text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise Unreadable(DeadLetterReason.NOT_JSON, f"{topic}: payload is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Unreadable(
            DeadLetterReason.NOT_OBJECT,
            f"{topic}: payload is a JSON {type(body).__name__}, not an object",
        )
    return body


def _too_deep(payload: bytes) -> bool:
    depth = deepest = 0
    for byte in payload:
        if byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest > 4 * MAX_JSON_DEPTH  # firmware nests a few levels; strings may count too


def number(topic: str, where: str, value: object, low: float, high: float) -> float:
    """A measured value: a JSON number or a number as text (Gen1, ESPHome), within the
    range a plug can measure."""
    if isinstance(value, bool):
        raise Unreadable(DeadLetterReason.SCHEMA, f"{topic}: {where}: {value!r} is not a number")
    if isinstance(value, str):
        shown = value[:40]
        try:
            value = float(value.strip())
        except ValueError:
            raise Unreadable(
                DeadLetterReason.SCHEMA, f"{topic}: {where}: {shown!r} is not a number"
            ) from None
    if isinstance(value, int):
        value = float(value) if abs(value) < 2**63 else math.inf  # JSON ints of any size
    if not isinstance(value, float) or not math.isfinite(value):
        raise Unreadable(
            DeadLetterReason.SCHEMA, f"{topic}: {where}: {str(value)[:40]!r} is not a number"
        )
    if low == 0 and -METER_NOISE <= value < 0:
        return 0.0  # a meter's noise around nothing: nothing
    if not low <= value <= high:
        raise Unreadable(
            DeadLetterReason.SCHEMA, f"{topic}: {where}: {value:g} is outside {low:g}..{high:g}"
        )
    return float(value)


MAX_VERSION_CHARS = 64


def version(value: object) -> dict[str, str]:
    """The firmware version a plug announces, as the `fw` its status is stored with
    (Home Assistant's `sw_version`); nothing if it is not a short line of text."""
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        return {}
    return {"fw": value.strip()[:MAX_VERSION_CHARS]}


_ON = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def on_off(topic: str, where: str, value: object) -> bool:
    """ON/OFF (Tasmota, Zigbee2MQTT, ESPHome), on/off (Shelly Gen1), true/false (Gen2)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _ON:
        return _ON[value.strip().lower()]
    raise Unreadable(
        DeadLetterReason.SCHEMA, f"{topic}: {where}: {str(value)[:40]!r} is not on or off"
    )


def online_word(topic: str, value: str, online: str, offline: str) -> bool:
    """A last will's or birth message's word, case as the firmware writes it."""
    word = value.strip().lower()
    if word == online.lower():
        return True
    if word == offline.lower():
        return False
    raise Unreadable(
        DeadLetterReason.SCHEMA, f"{topic}: {value[:40]!r} is neither {online} nor {offline}"
    )


# A meter reading a hair below zero with nothing connected (some report -0.3 W).
METER_NOISE = 1.0
# What a plug can measure (the protocol's reading limits).
POWER_W = (0.0, 20_000.0)
VOLTAGE_V = (0.0, 300.0)
CURRENT_A = (0.0, 100.0)
ENERGY_WH = (0.0, 1e9)
TEMP_C = (-50.0, 200.0)
WH_PER_KWH = 1000.0  # a plug reporting energy in kWh: times this is our Wh
