"""Wire protocol v1: topics and payloads, defined once (docs/protocol.md).

The server validates every board message with these models; the JSON Schema in
docs/protocol.schema.json is exported from them (`makerwatch schema`), and the
firmware encoder is tested against them. `MESSAGE_KINDS`, at the end, is the one
table of message kinds: the broker's ACL, ingest's subscriptions and decoder, and
the JSON Schema are generated from it, so a kind cannot be left out of one of them.

Longer than 400 lines on purpose: the protocol is read as one text (topics, then
payloads, then the table that joins them), as docs/protocol.md presents it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

__all__ = [
    "CARD_KEY_PATTERN",
    "DEAD_LETTER_TOPIC",
    "EVENT_MEASUREMENT",
    "MAX_ACCESS_KEYS",
    "MAX_BATCH_READINGS",
    "MAX_JSON_DEPTH",
    "MESSAGE_KINDS",
    "PROTOCOL_VERSION",
    "READING_FIELDS",
    "RESERVED_DEVICE_IDS",
    "SLUG_PATTERN",
    "STATE_MEASUREMENT",
    "STATUS_MEASUREMENT",
    "TAP_MEASUREMENT",
    "TELEMETRY_MEASUREMENT",
    "TOPIC_ROOT",
    "AccessList",
    "AccessMode",
    "Acknowledgement",
    "AlertMessage",
    "BatchEnvelope",
    "BoardConfig",
    "BoardMessage",
    "CalibrateCommand",
    "CardKey",
    "Command",
    "DeadLetter",
    "DeadLetterReason",
    "Event",
    "EventKind",
    "IdentifyCommand",
    "KindSpec",
    "Level",
    "MachineState",
    "MessageKind",
    "Reading",
    "RelayCommand",
    "Role",
    "State",
    "Status",
    "Tap",
    "TapResult",
    "Telemetry",
    "TelemetryBatch",
    "TopicError",
    "TopicParts",
    "UpdateChunk",
    "UpdateManifest",
    "UpdateStep",
    "alert_ack_topic",
    "alert_topic",
    "alerts_subscriptions",
    "board_kinds",
    "board_subscriptions",
    "command_topic",
    "config_topic",
    "demo_topic",
    "ingest_ready_topic",
    "is_slug",
    "json_schema",
    "kinds",
    "message_kind",
    "parse_topic",
    "site_root",
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
# Topic levels the server uses at the device's place (makerspace/{site}/alerts/...):
# a board with such an id would write inside the server's namespace.
RESERVED_DEVICE_IDS = frozenset({"alerts"})
# Text a board sends is one line: no control characters (a newline would end a record).
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
# A reading older than this cannot come from a board's NTP clock.
EARLIEST_VALID_TS_S = 1_577_836_800  # 2020-01-01T00:00:00Z


class MessageKind(StrEnum):
    """The last topic level of each of our board's own board-to-server messages (a
    name; what each carries, and who may send it, is its row in MESSAGE_KINDS)."""

    TELEMETRY = "telemetry"
    STATE = "state"
    STATUS = "status"
    EVENT = "event"
    TAP = "tap"


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.fullmatch(value))


class TopicError(ValueError):
    """A topic that is not `makerspace/{site}/{device}/{kind}` with valid slugs."""


@dataclass(frozen=True, slots=True)
class TopicParts:
    site: str
    device: str
    kind: str  # a board-to-server row's suffix (a MessageKind for our board's own)


class Command(StrEnum):
    """`.../cmd/{name}`: what the server may ask a board to do."""

    RELAY = "relay"
    IDENTIFY = "identify"
    CALIBRATE = "calibrate"


def site_root(site: str) -> str:
    """Every topic of a site is below this; one ACL pattern covers a site."""
    return f"{TOPIC_ROOT}/{site}"


def topic_for(site: str, device: str, kind: MessageKind) -> str:
    """A board-to-server topic."""
    return f"{TOPIC_ROOT}/{site}/{device}/{kind.value}"


def command_topic(site: str, device: str, command: Command) -> str:
    return f"{TOPIC_ROOT}/{site}/{device}/cmd/{command.value}"


def config_topic(site: str, device: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{device}/config"


def alert_topic(site: str, alert_id: str) -> str:
    """An active alert, retained; an empty payload clears it."""
    return f"{TOPIC_ROOT}/{site}/alerts/{alert_id}"


def alert_ack_topic(site: str, alert_id: str) -> str:
    """Staff acknowledge an alert by publishing an `Acknowledgement` here."""
    return f"{alert_topic(site, alert_id)}/ack"


def alerts_subscriptions(site: str) -> list[str]:
    return [alert_topic(site, "+"), alert_ack_topic(site, "+")]


def ingest_ready_topic(site: str, client_id: str) -> str:
    """Ingest publishes to itself here after subscribing: when it comes back, every
    retained alert the broker held has been delivered before it."""
    return f"{TOPIC_ROOT}/{site}/_ingest/{client_id}/ready"


def demo_topic(site: str) -> str:
    """Retained while `makerwatch up`'s simulated makerspace drives the site's devices;
    emptied when it stops (or by its will, if it dies)."""
    return f"{TOPIC_ROOT}/{site}/_sim/demo"


# Mosquitto's count of messages it dropped (a full queue for a persistent session, or
# a full in-flight window): published every sys_interval, read by ingest.
BROKER_DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"


def board_subscriptions() -> list[str]:
    """Every site's board messages, not only one site's: a board flashed with a wrong
    site slug is dead-lettered as unknown_site instead of going unnoticed."""
    return [kind.topic("+", "+") for kind in board_kinds()]


def parse_topic(topic: str) -> TopicParts:
    """Split a board topic into site, device and message kind, or raise TopicError."""
    levels = topic.split("/")
    if len(levels) != 4 or levels[0] != TOPIC_ROOT:
        raise TopicError(f"not {TOPIC_ROOT}/<site>/<device>/<kind>")
    _, site, device, kind = levels
    for what, value in (("site", site), ("device", device)):
        if not is_slug(value):
            raise TopicError(f"{what} {value!r} is not a slug [a-z0-9-]{{1,32}}")
    for spec in board_kinds():
        if spec.suffix == kind:
            return TopicParts(site, device, spec.suffix)
    known = ", ".join(spec.suffix for spec in board_kinds())
    raise TopicError(f"unknown message kind {kind!r} ({known})")


class _Payload(BaseModel):
    # strict: a JSON string "12" is not a number and true is not 1; a JSON 12 is
    # accepted for a float field and becomes 12.0, so InfluxDB sees one type.
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True
    )


# Field name -> unit is in the name. Ranges are physical limits of
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
        values = self.__dict__  # not measurements(): this runs for every reading too
        for name in READING_FIELDS:
            if values[name] is not None:
                return self
        raise ValueError(f"a reading needs at least one of {', '.join(READING_FIELDS)}")

    def measurements(self) -> dict[str, float]:
        """The measured fields that are present, as floats."""
        values = self.__dict__  # the fields' values (read on every reading ingest takes)
        return {name: float(values[name]) for name in READING_FIELDS if values[name] is not None}


class BoardMessage(_Payload):
    """What every board-to-server payload carries besides its own fields."""

    v: Literal[1]
    # Optional echo of the topic; when present it must agree with the topic.
    site: Slug | None = None
    device: Slug | None = None
    # Set by the simulator, never by a board: its data is stored apart (tag
    # source=sim), left out of every figure unless asked for, and can be deleted.
    sim: bool | None = None


class Telemetry(BoardMessage, Reading):
    """`.../telemetry` with one reading inline."""


# A board's offline buffer holds fewer; more in one message is not a board's.
MAX_BATCH_READINGS = 2_000
# JSON nesting a board never sends (a batch is 3 deep); refused before parsing recurses.
MAX_JSON_DEPTH = 8


class BatchEnvelope(BoardMessage):
    """A batch without its readings: checked first, then each reading on its own."""


class TelemetryBatch(BoardMessage):
    """`.../telemetry` with readings buffered while offline, oldest first. Each
    reading is validated on its own: a bad one is refused, the others are stored."""

    readings: list[Reading] = Field(min_length=1, max_length=MAX_BATCH_READINGS)


class Status(BoardMessage):
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
    taps_dropped: int | None = Field(
        default=None, ge=0, description="card taps lost to a full offline queue"
    )


class MachineState(StrEnum):
    OFF = "off"
    IDLE = "idle"
    ACTIVE = "active"


class State(BoardMessage):
    """`.../state`: the board's view of its machine, on change, retained."""

    # strict=False: in a decoded dict the state is a string; only the listed values pass.
    state: MachineState = Field(strict=False)
    ts: float | None = Field(default=None, ge=EARLIEST_VALID_TS_S)
    seq: int | None = Field(default=None, ge=0, le=2**53)
    # The state just left and how long it lasted, on the board's own clock
    # (absent for the first change after a boot).
    previous: MachineState | None = Field(default=None, strict=False)
    previous_duration_s: float | None = Field(default=None, ge=0, le=366 * 86400)
    # While on: when the machine left "off" (its usage session's start), on the board's
    # clock; the same in every restatement of the state.
    on_since: float | None = Field(default=None, ge=EARLIEST_VALID_TS_S)


class EventKind(StrEnum):
    BOOT = "boot"
    BUTTON = "button"
    SENSOR_FAULT = "sensor_fault"
    SENSOR_OK = "sensor_ok"
    RELAY = "relay"
    CONFIG_APPLIED = "config_applied"
    CONFIG_REJECTED = "config_rejected"
    UPDATE = "update"  # a firmware update's step; `reason` says which (UpdateStep)
    IDENTIFY = "identify"  # the answer to cmd/identify; `detail` says whether the LED blinks


class Event(BoardMessage):
    """`.../event`: something happened on the board."""

    event: EventKind = Field(strict=False)
    detail: str | None = Field(default=None, max_length=300, pattern=ONE_LINE)
    ts: float | None = Field(default=None, ge=EARLIEST_VALID_TS_S)
    relay_on: bool | None = None  # for `relay`: the relay's new position
    reason: str | None = Field(default=None, max_length=64, pattern=ONE_LINE)  # for `relay`: why


# A member's card as it may appear anywhere: HMAC-SHA256 of the card's UID under the
# site's card secret, the first 16 bytes in hex. A raw UID never leaves the reader.
CARD_KEY_PATTERN = r"^[0-9a-f]{32}$"
CardKey = Annotated[str, Field(pattern=CARD_KEY_PATTERN)]
# Keys one access list may hold, members and staff together: about 16 KB, the board's
# MQTT packet limit (firmware/core/access.py MAX_KEYS, the same number: a contract test).
MAX_ACCESS_KEYS = 400


class AccessMode(StrEnum):
    """How a device's card reader acts (the site file's `access:`)."""

    OFF = "off"  # no reader
    LOG = "log"  # a tap is recorded as who; the machine is not locked
    ENFORCE = "enforce"  # the relay switches on only after an allowed tap


class TapResult(StrEnum):
    """What the board did with a tap. The board knows only the keys it may allow, so
    an untrained member and an unknown card are both `refused`; the server tells them
    apart by its members store."""

    ALLOWED = "allowed"  # on the allowed list: unlocked (enforce) or recorded (log)
    STAFF = "staff"  # a staff card: always unlocks
    REFUSED = "refused"  # not on the list: the machine stays locked (enforce) or is noted
    ENDED = "ended"  # the same card again: the session ends and the machine locks


class Tap(BoardMessage):
    """`.../tap` (board -> server): a card was held to the board's reader. Queued
    while offline and sent later with the time it happened."""

    ts: float | None = Field(default=None, ge=EARLIEST_VALID_TS_S)
    seq: int = Field(ge=0, le=2**53, description="per-boot sequence number")
    key: CardKey
    result: TapResult = Field(strict=False)
    mode: AccessMode = Field(strict=False)


class AccessList(_Payload):
    """`.../access` (server -> board, retained): who may use this board's machine. Each
    board reads only its own; it keeps the last one in flash to work offline."""

    v: Literal[1]
    mode: AccessMode = Field(strict=False)
    members: list[CardKey] = Field(default_factory=list, max_length=MAX_ACCESS_KEYS)
    staff: list[CardKey] = Field(default_factory=list, max_length=MAX_ACCESS_KEYS)
    # Locked until a blocking maintenance task is done (enforce: staff cards only).
    locked_reason: str | None = Field(default=None, max_length=64, pattern=ONE_LINE)
    updated_ms: int = Field(ge=0, description="when the server made this list")

    @model_validator(mode="after")
    def _fits_a_board(self) -> AccessList:
        if len(self.members) + len(self.staff) > MAX_ACCESS_KEYS:
            raise ValueError(f"a board holds at most {MAX_ACCESS_KEYS} keys, members and staff")
        return self


class RelayCommand(_Payload):
    """`.../cmd/relay` (server -> board)."""

    v: Literal[1]
    on: bool
    reason: str = Field(default="command", max_length=64)


class IdentifyCommand(_Payload):
    """`.../cmd/identify` (server -> board): blink the board's LED."""

    v: Literal[1]
    seconds: int = Field(default=10, ge=1, le=300)


class CalibrateCommand(_Payload):
    """`.../cmd/calibrate` (server -> board): correct the current clamp against a known
    load on now, or the temperature against a reference; the board keeps the correction
    in its settings.json and reports it (`config_applied`, or `config_rejected`)."""

    v: Literal[1]
    known_w: float | None = Field(default=None, ge=1, le=20_000)
    reference_c: float | None = Field(default=None, ge=-50, le=1_000)


# The board's answer to cmd/calibrate is an event whose detail starts so.
CALIBRATION_APPLIED = ("ct_calibration ", "temp_offset_c ")  # config_applied: what it keeps
CALIBRATION_REFUSED = "cmd/calibrate: "  # config_rejected: why not


def calibration_answer(event: str, detail: str) -> tuple[bool, str] | None:
    """(applied, the board's words) when an event answers a calibration, else None."""
    if event == EventKind.CONFIG_REJECTED and detail.startswith(CALIBRATION_REFUSED):
        return False, detail.removeprefix(CALIBRATION_REFUSED)
    if event == EventKind.CONFIG_APPLIED and detail.startswith(CALIBRATION_APPLIED):
        return True, detail
    return None


class UpdateStep(StrEnum):
    """An `update` event's `reason`: how far a firmware update went on the board."""

    ACCEPTED = "accepted"  # the manifest was signed for it; its slot is cleared
    FILE = "file"  # one more file written and its SHA-256 checked
    SWITCHING = "switching"  # every file checked: restarting into it, on trial
    CONFIRMED = "confirmed"  # the new version connected and reported
    ROLLED_BACK = "rolled_back"  # it did not: the board runs the previous one again
    FAILED = "failed"  # refused or abandoned; the running version stays


class UpdateManifest(_Payload):
    """`.../update/manifest` (server -> board): `manifest` is JSON text (site, device,
    id, version, files: path, size, sha256), `sig` its HMAC-SHA256 with the board's
    own update key, in hex."""

    v: Literal[1]
    manifest: str = Field(max_length=3_000)
    sig: str = Field(pattern=r"^[0-9a-f]{64}$")


class UpdateChunk(_Payload):
    """`.../update/chunk` (server -> board): this JSON header on one line, then a
    newline and the file's bytes from `offset` (2 KB at most)."""

    id: str = Field(max_length=32)
    file: int = Field(ge=0)
    offset: int = Field(ge=0)


class BoardConfig(_Payload):
    """`.../config` (server -> board, retained): settings applied without a reboot."""

    v: Literal[1]
    telemetry_period_s: float | None = Field(default=None, ge=1, le=3600)
    idle_above_w: float | None = Field(default=None, ge=0)
    active_above_w: float | None = Field(default=None, gt=0)
    max_on_s: int | None = Field(default=None, ge=0, description="0 = no local limit")


class AlertMessage(_Payload):
    """`makerspace/{site}/alerts/{alert_id}` (server -> all, retained): an active alert."""

    model_config = ConfigDict(extra="ignore")  # later versions may add fields for people
    v: Literal[1]
    alert_id: str = Field(max_length=128)
    rule: str = Field(max_length=64)
    device: Slug
    reason: str = Field(max_length=64)
    fired_ms: int = Field(ge=0)
    notified_ms: int = Field(ge=0)
    seconds: float = Field(default=0.0, ge=0)
    temp_c: float | None = None
    acked_by: str | None = Field(default=None, max_length=64)
    acked_ms: int | None = Field(default=None, ge=0)
    snoozed_until_ms: int | None = Field(default=None, ge=0)
    auto_off: str | None = Field(default=None, max_length=16)
    on_since_ms: int | None = Field(default=None, ge=0)
    closed_ms: int | None = Field(default=None, ge=0)
    notified: bool = Field(default=True, description="staff were told it fired")
    message: str | None = Field(default=None, max_length=2_000, description="for people")


class Acknowledgement(_Payload):
    """`makerspace/{site}/alerts/{alert_id}/ack` (staff -> server)."""

    model_config = ConfigDict(extra="ignore")
    v: Literal[1] = 1
    by: str = Field(default="staff", min_length=1, max_length=64)


class DeadLetterReason(StrEnum):
    """Why a message was not stored; the key of the dead-letter counter."""

    BAD_TOPIC = "bad_topic"
    UNKNOWN_SITE = "unknown_site"
    UNKNOWN_DEVICE = "unknown_device"
    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    SCHEMA = "schema"
    TOPIC_MISMATCH = "topic_mismatch"
    TS_IN_FUTURE = "ts_in_future"
    TS_TOO_OLD = "ts_too_old"
    INFLUX_REJECTED = "influx_rejected"
    TOO_DEEP = "too_deep"
    INTERNAL_ERROR = "internal_error"


class DeadLetter(_Payload):
    """`makerspace/_invalid` (server -> operators): a message that was not stored, and why."""

    v: Literal[1]
    reason: DeadLetterReason = Field(strict=False)
    error: str
    topic: str
    payload: str = Field(description="the payload as text, truncated")
    payload_bytes: int = Field(ge=0)
    received_at: float


# Where ingest stores each board-to-server kind; compared wherever points are sorted.
TELEMETRY_MEASUREMENT = "telemetry"
STATUS_MEASUREMENT = "device_status"
STATE_MEASUREMENT = "state"
EVENT_MEASUREMENT = "event"
TAP_MEASUREMENT = "tap"


class Role(StrEnum):
    """Who publishes or reads a kind. A board only ever its own device's topic."""

    BOARD = "board"
    SERVER = "server"  # ingest, with its own broker login
    STAFF = "staff"  # through the HTTP API, which publishes with ingest's login
    OPERATORS = "operators"  # the read-only `operator` login (docs/operations.md)
    ALL = "all"  # every reader of the site: ingest, the floor board


class Level(StrEnum):
    """Where a kind's topic sits below the root."""

    DEVICE = f"{TOPIC_ROOT}/{{site}}/{{device}}"
    SITE = f"{TOPIC_ROOT}/{{site}}"
    ROOT = TOPIC_ROOT


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One message kind: a row of MESSAGE_KINDS."""

    suffix: str  # the topic below its level: `telemetry`, `cmd/relay`, `alerts/{alert_id}`
    schema: type[BaseModel]
    publisher: Role
    reader: Role
    retained: bool
    measurement: str | None = None  # where ingest stores it: every board-to-server kind
    batch: type[BaseModel] | None = None  # the same topic may carry this instead
    level: Level = Level.DEVICE

    def __post_init__(self) -> None:
        if any(char in self.suffix for char in "+#") or self.suffix.startswith("/"):
            raise ValueError(f"message kind {self.suffix!r}: not a topic suffix")
        if (self.measurement is None) == (self.publisher is Role.BOARD):
            raise ValueError(
                f"message kind {self.suffix!r}: a kind a board sends, and only such a kind, "
                "is stored in a measurement"
            )
        if Role.BOARD in (self.publisher, self.reader) and self.level is not Level.DEVICE:
            raise ValueError(f"message kind {self.suffix!r}: a board's kind is a device's topic")
        if self.publisher is Role.BOARD and not is_slug(self.suffix):
            raise ValueError(f"message kind {self.suffix!r}: a board's is one level of [a-z0-9-]")
        if self.publisher is Role.BOARD and not issubclass(self.schema, BoardMessage):
            raise ValueError(f"message kind {self.suffix!r}: a board's schema is a BoardMessage")

    @property
    def direction(self) -> str:
        return f"{self.publisher.value} -> {self.reader.value}"

    @property
    def template(self) -> str:
        """The topic with placeholders, as docs/protocol.md writes it."""
        return f"{self.level.value}/{self.suffix}"

    @property
    def pattern(self) -> str:
        """Every topic of the kind, each placeholder a `+` (an ACL line, a subscription)."""
        return re.sub(r"\{[a-z_]+\}", "+", self.template)

    def topic(self, site: str, device: str) -> str:
        """The topic of one device (`+` for any site or device: a subscription or ACL)."""
        if self.level is not Level.DEVICE:
            raise ValueError(f"message kind {self.suffix!r} is not a device's: {self.template}")
        return f"{TOPIC_ROOT}/{site}/{device}/{self.suffix}"

    def json_schema(self) -> dict[str, Any]:
        model: Any = self.schema if self.batch is None else self.schema | self.batch
        return TypeAdapter(model).json_schema()


# The one table of message kinds. A new kind is one row (and its payload model above):
# the broker's ACL (each board's own topics, the bridge), ingest's subscriptions, its
# decoder and docs/protocol.schema.json are generated from these rows.
# fmt: off
MESSAGE_KINDS: tuple[KindSpec, ...] = (
    KindSpec(MessageKind.TELEMETRY, Telemetry, Role.BOARD, Role.SERVER, retained=False,
             measurement=TELEMETRY_MEASUREMENT, batch=TelemetryBatch),
    KindSpec(MessageKind.STATUS, Status, Role.BOARD, Role.SERVER, retained=True,
             measurement=STATUS_MEASUREMENT),
    KindSpec(MessageKind.STATE, State, Role.BOARD, Role.SERVER, retained=True,
             measurement=STATE_MEASUREMENT),
    KindSpec(MessageKind.EVENT, Event, Role.BOARD, Role.SERVER, retained=False,
             measurement=EVENT_MEASUREMENT),
    KindSpec(MessageKind.TAP, Tap, Role.BOARD, Role.SERVER, retained=False,
             measurement=TAP_MEASUREMENT),
    KindSpec(f"cmd/{Command.RELAY.value}", RelayCommand, Role.SERVER, Role.BOARD, retained=False),
    KindSpec(f"cmd/{Command.IDENTIFY.value}", IdentifyCommand, Role.SERVER, Role.BOARD,
             retained=False),
    KindSpec(f"cmd/{Command.CALIBRATE.value}", CalibrateCommand, Role.SERVER, Role.BOARD,
             retained=False),
    KindSpec("config", BoardConfig, Role.SERVER, Role.BOARD, retained=True),
    KindSpec("access", AccessList, Role.SERVER, Role.BOARD, retained=True),
    KindSpec("update/manifest", UpdateManifest, Role.SERVER, Role.BOARD, retained=False),
    KindSpec("update/chunk", UpdateChunk, Role.SERVER, Role.BOARD, retained=False),
    KindSpec("alerts/{alert_id}", AlertMessage, Role.SERVER, Role.ALL, retained=True,
             level=Level.SITE),
    KindSpec("alerts/{alert_id}/ack", Acknowledgement, Role.STAFF, Role.SERVER, retained=False,
             level=Level.SITE),
    KindSpec(DEAD_LETTER_TOPIC.removeprefix(f"{TOPIC_ROOT}/"), DeadLetter, Role.SERVER,
             Role.OPERATORS, retained=False, level=Level.ROOT),
)
# fmt: on


def kinds(*, publisher: Role | None = None, reader: Role | None = None) -> list[KindSpec]:
    """Rows of the table by who sends or reads them. Read from the table when asked,
    never kept at import: everything generated follows the table as it is."""
    return [
        kind
        for kind in MESSAGE_KINDS
        if publisher in (None, kind.publisher) and reader in (None, kind.reader)
    ]


def board_kinds() -> list[KindSpec]:
    """The kinds a board publishes (on its own device's topics only)."""
    return kinds(publisher=Role.BOARD)


def message_kind(suffix: str) -> KindSpec:
    """The row of a kind by its suffix (a TopicParts.kind)."""
    for kind in MESSAGE_KINDS:
        if kind.suffix == suffix:
            return kind
    raise KeyError(f"no message kind {suffix!r} in MESSAGE_KINDS")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every payload, keyed by message kind, and the table itself."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Makerwatch wire protocol v{PROTOCOL_VERSION}",
        "topics": {kind.suffix: kind.template for kind in MESSAGE_KINDS},
        "kinds": {
            kind.suffix: {
                "direction": kind.direction,
                "retained": kind.retained,
                **({"measurement": kind.measurement} if kind.measurement else {}),
            }
            for kind in MESSAGE_KINDS
        },
        "messages": {kind.suffix: kind.json_schema() for kind in MESSAGE_KINDS},
    }
