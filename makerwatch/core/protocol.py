"""Wire protocol v1: topics and payloads, defined once (docs/protocol.md).

The server validates every board message with these models; the JSON Schema in
docs/protocol.schema.json is exported from them (`makerwatch schema`), and the
firmware encoder is tested against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

__all__ = [
    "DEAD_LETTER_TOPIC",
    "PROTOCOL_VERSION",
    "READING_FIELDS",
    "SLUG_PATTERN",
    "TOPIC_ROOT",
    "BoardConfig",
    "Event",
    "EventKind",
    "IdentifyCommand",
    "MachineState",
    "MessageKind",
    "Reading",
    "RelayCommand",
    "State",
    "Status",
    "Telemetry",
    "TelemetryBatch",
    "TopicError",
    "TopicParts",
    "is_slug",
    "json_schema",
    "parse_topic",
    "topic_for",
]

PROTOCOL_VERSION = 1
TOPIC_ROOT = "makerspace"
# Invalid messages are republished here with the reason; "_" keeps it out of the
# slug space, so no site can be called "_invalid".
DEAD_LETTER_TOPIC = f"{TOPIC_ROOT}/_invalid"
SLUG_PATTERN = r"^[a-z0-9-]{1,32}$"
_SLUG_RE = re.compile(SLUG_PATTERN)

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
# A reading older than this cannot come from a board's NTP clock.
EARLIEST_VALID_TS_S = 1_577_836_800  # 2020-01-01T00:00:00Z


class MessageKind(StrEnum):
    """The last topic level of a board-to-server message."""

    TELEMETRY = "telemetry"
    STATE = "state"
    STATUS = "status"
    EVENT = "event"


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.fullmatch(value))


class TopicError(ValueError):
    """A topic that is not `makerspace/{site}/{device}/{kind}` with valid slugs."""


@dataclass(frozen=True, slots=True)
class TopicParts:
    site: str
    device: str
    kind: MessageKind


def topic_for(site: str, device: str, kind: MessageKind) -> str:
    return f"{TOPIC_ROOT}/{site}/{device}/{kind.value}"


def parse_topic(topic: str) -> TopicParts:
    """Split a board topic into site, device and message kind, or raise TopicError."""
    levels = topic.split("/")
    if len(levels) != 4 or levels[0] != TOPIC_ROOT:
        raise TopicError(f"not {TOPIC_ROOT}/<site>/<device>/<kind>")
    _, site, device, kind = levels
    for what, value in (("site", site), ("device", device)):
        if not is_slug(value):
            raise TopicError(f"{what} {value!r} is not a slug [a-z0-9-]{{1,32}}")
    try:
        message_kind = MessageKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in MessageKind)
        raise TopicError(f"unknown message kind {kind!r} ({known})") from None
    return TopicParts(site, device, message_kind)


class _Payload(BaseModel):
    # strict: a JSON string "12" is not a number and true is not 1; a JSON 12 is
    # accepted for a float field and becomes 12.0, so InfluxDB sees one type.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


# Field name -> unit is in the name (STYLE.md 7). Ranges are physical limits of
# makerspace machines on 220 V mains; anything outside is a sensor or encoding fault.
READING_FIELDS: tuple[str, ...] = ("power_w", "current_a", "voltage_v", "energy_wh", "temp_c")


class Reading(_Payload):
    """One sample from a board. `ts` is omitted by a board without NTP time."""

    ts: float | None = Field(default=None, ge=EARLIEST_VALID_TS_S, description="UTC epoch seconds")
    seq: int = Field(ge=0, le=2**53, description="per-boot sequence number")
    power_w: float | None = Field(default=None, ge=0, le=20_000)
    current_a: float | None = Field(default=None, ge=0, le=100)
    voltage_v: float | None = Field(default=None, ge=0, le=300)
    energy_wh: float | None = Field(default=None, ge=0, le=1e9)
    temp_c: float | None = Field(default=None, ge=-50, le=1_000)

    @model_validator(mode="after")
    def _has_a_measurement(self) -> Reading:
        if all(getattr(self, name) is None for name in READING_FIELDS):
            raise ValueError(f"a reading needs at least one of {', '.join(READING_FIELDS)}")
        return self

    def measurements(self) -> dict[str, float]:
        """The measured fields that are present, as floats."""
        values = {name: getattr(self, name) for name in READING_FIELDS}
        return {name: float(value) for name, value in values.items() if value is not None}


class _Addressed(_Payload):
    v: Literal[1]
    # Optional echo of the topic; when present it must agree with the topic.
    site: Slug | None = None
    device: Slug | None = None


class Telemetry(_Addressed, Reading):
    """`.../telemetry` with one reading inline."""


class TelemetryBatch(_Addressed):
    """`.../telemetry` with readings buffered while offline, oldest first."""

    readings: list[Reading] = Field(min_length=1, max_length=2_000)


class Status(_Addressed):
    """`.../status`: birth message (online) or last will (offline), retained."""

    online: bool
    fw: str | None = Field(default=None, pattern=r"^[^\x00-\x1f\x7f]{1,64}$")
    rssi_dbm: int | None = Field(default=None, ge=-120, le=0)
    ts: float | None = Field(default=None, ge=EARLIEST_VALID_TS_S)
    # Birth-message diagnostics from the board.
    sensors: list[Annotated[str, Field(pattern=r"^[a-z0-9_]{1,16}$")]] | None = Field(
        default=None, max_length=8
    )
    free_mem_bytes: int | None = Field(default=None, ge=0)
    buffer_dropped: int | None = Field(
        default=None, ge=0, description="readings lost to a full buffer"
    )


class MachineState(StrEnum):
    OFF = "off"
    IDLE = "idle"
    ACTIVE = "active"


class State(_Addressed):
    """`.../state`: the board's view of its machine, on change, retained."""

    # strict=False: in a decoded dict the state is a string; only the listed values pass.
    state: MachineState = Field(strict=False)
    ts: float | None = Field(default=None, ge=EARLIEST_VALID_TS_S)
    seq: int | None = Field(default=None, ge=0, le=2**53)
    # The state just left and how long it lasted, on the board's own clock
    # (absent for the first change after a boot).
    previous: MachineState | None = Field(default=None, strict=False)
    previous_duration_s: float | None = Field(default=None, ge=0, le=366 * 86400)


class EventKind(StrEnum):
    BOOT = "boot"
    BUTTON = "button"
    SENSOR_FAULT = "sensor_fault"
    SENSOR_OK = "sensor_ok"
    RELAY = "relay"
    CONFIG_APPLIED = "config_applied"
    CONFIG_REJECTED = "config_rejected"


class Event(_Addressed):
    """`.../event`: something happened on the board."""

    event: EventKind = Field(strict=False)
    detail: str | None = Field(default=None, max_length=300)
    ts: float | None = Field(default=None, ge=EARLIEST_VALID_TS_S)
    relay_on: bool | None = None  # for `relay`: the relay's new position
    reason: str | None = Field(default=None, max_length=64)  # for `relay`: why it switched


class RelayCommand(_Payload):
    """`.../cmd/relay` (server -> board)."""

    v: Literal[1]
    on: bool
    reason: str = Field(default="command", max_length=64)


class IdentifyCommand(_Payload):
    """`.../cmd/identify` (server -> board): blink the board's LED."""

    v: Literal[1]
    seconds: int = Field(default=10, ge=1, le=300)


class BoardConfig(_Payload):
    """`.../config` (server -> board, retained): settings applied without a reboot."""

    v: Literal[1]
    telemetry_period_s: float | None = Field(default=None, ge=1, le=3600)
    idle_above_w: float | None = Field(default=None, ge=0)
    active_above_w: float | None = Field(default=None, gt=0)
    max_on_s: int | None = Field(default=None, ge=0, description="0 = no local limit")


_SCHEMA_MODELS: dict[str, Any] = {
    "telemetry": Telemetry | TelemetryBatch,
    "status": Status,
    "state": State,
    "event": Event,
    "cmd/relay": RelayCommand,
    "cmd/identify": IdentifyCommand,
    "config": BoardConfig,
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every payload the server accepts, keyed by message kind."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Makerwatch wire protocol v{PROTOCOL_VERSION}",
        "topics": {kind: f"{TOPIC_ROOT}/{{site}}/{{device}}/{kind}" for kind in _SCHEMA_MODELS},
        "messages": {
            kind: TypeAdapter(model).json_schema() for kind, model in _SCHEMA_MODELS.items()
        },
    }
