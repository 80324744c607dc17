"""The site configuration: one YAML file per site, validated once at start-up.

`makerspace.example.yaml` documents every option; docs/configuration.md is the
reference. Errors name the file, the key path and what is wrong.

Longer than 400 lines on purpose: it is the site file's whole schema, one section a
class in the order of the example file, read beside it.
"""

from __future__ import annotations

import contextlib
import difflib
import hmac
import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from firmware.core import config as board_settings
from makerwatch.core.errors import ConfigError
from makerwatch.core.opening_hours import WEEKDAYS, parse_daily_span, parse_hours
from makerwatch.core.protocol import RESERVED_DEVICE_IDS, SLUG_PATTERN, TOPIC_ROOT, AccessMode
from makerwatch.core.source_settings import PlugSource

__all__ = [
    "LANGUAGES",
    "MAINTENANCE_INTERVALS",
    "BoardGroup",
    "BoardLayout",
    "Device",
    "HomeAssistantSettings",
    "InfluxSettings",
    "IngestSettings",
    "Language",
    "MachineKind",
    "MaintenanceTask",
    "MembersSettings",
    "MqttSettings",
    "Rule",
    "RuleName",
    "Severity",
    "SiteConfig",
    "StaffMember",
    "TelegramBot",
    "TelegramChat",
    "describe",
    "load_site_config",
    "may_switch_off",
    "yaml_error",
]


# The languages of every text staff and sponsors read.
Language = Literal["en", "ru", "kk"]
LANGUAGES: tuple[Language, ...] = get_args(Language)


class MachineKind(StrEnum):
    SOLDERING_STATION = "soldering_station"
    PRINTER_3D = "printer_3d"
    LASER_CUTTER = "laser_cutter"
    CNC_ROUTER = "cnc_router"
    VINYL_CUTTER = "vinyl_cutter"
    SEWING_MACHINE = "sewing_machine"
    OTHER = "other"


# Power that separates off/idle and idle/active, by kind. A soldering station
# holds its tip at a few watts in the stand; a printer idles with fans and board.
DEFAULT_THRESHOLDS_W: dict[MachineKind, tuple[float, float]] = {
    MachineKind.SOLDERING_STATION: (2.0, 15.0),
    MachineKind.PRINTER_3D: (5.0, 40.0),
    MachineKind.LASER_CUTTER: (10.0, 150.0),
    MachineKind.CNC_ROUTER: (10.0, 100.0),
    MachineKind.VINYL_CUTTER: (2.0, 10.0),
    MachineKind.SEWING_MACHINE: (2.0, 20.0),
    MachineKind.OTHER: (2.0, 20.0),
}


def _check_display_name(name: str) -> str:
    # InfluxDB 1.x line protocol has no escape for a backslash that ends a tag
    # value or stands before a space, comma or equals sign, nor for a newline.
    if not name.strip():
        raise ValueError("must not be empty")
    if any(ch in name for ch in "\n\r\t"):
        raise ValueError("must be one line (no newline or tab)")
    if re.search(r"\\($|[ ,=])", name):
        raise ValueError("a backslash may not end the name or stand before a space, comma or '='")
    return name


DisplayName = Annotated[str, Field(max_length=80), AfterValidator(_check_display_name)]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Section):
    idle_above_w: float = Field(ge=0)
    active_above_w: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.active_above_w <= self.idle_above_w:
            raise ValueError("active_above_w must be greater than idle_above_w")
        return self


# Board settings that belong to the site file; the rest come from the device entry
# itself or from the local secrets file (`makerwatch firmware deploy`).
_NOT_WIRING = {"site", "device", "kind", "telemetry_period_s", "idle_above_w", "active_above_w",
               "wifi_ssid", "wifi_password", "mqtt_host", "mqtt_port", "mqtt_user", "mqtt_password",
               "card_secret", "access_mode"}  # fmt: skip


def _check_board(board: dict[str, Any]) -> dict[str, Any]:
    """The board's wiring and tuning, checked by the firmware's own rules."""
    misplaced = sorted(set(board) & _NOT_WIRING)
    if misplaced:
        raise ValueError(
            f"{', '.join(misplaced)} cannot be set here (identity, thresholds and secrets live elsewhere)"
        )
    _, errors = board_settings.validate(board)
    if errors:
        # One line each; `describe` puts each under its own key.
        raise ValueError("\n".join(_suggest_board_key(line) for line in errors))
    return board


# The board settings that take one of a few words, for "did you mean".
_BOARD_CHOICES = {
    "ct_model": board_settings.CT_MODELS,
    "power_sensor": board_settings.POWER_SENSORS,
    "temp_sensor": board_settings.TEMP_SENSORS,
}


def _suggest_board_key(error: str) -> str:
    key, _, rest = error.partition(": ")
    if rest == "unknown setting":
        return f"{key}: unknown board setting{_did_you_mean(key, board_settings.RULES)}"
    got = re.search(r"\(got '(.*)'\)$", rest)
    if key in _BOARD_CHOICES and got:
        return error + _did_you_mean(got[1], _BOARD_CHOICES[key])
    return error


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    near = _nearest(key, known)
    return f"; did you mean {near!r}?" if near else ""


class Device(_Section):
    id: Slug
    # One name for every language, or one per language ({kk: ..., ru: ..., en: ...});
    # the first listed is the device's default name (the `name` tag in InfluxDB).
    name: DisplayName | Annotated[dict[Language, DisplayName], Field(min_length=1)]
    kind: MachineKind
    thresholds: Thresholds | None = None
    telemetry_period_s: float = Field(default=10.0, ge=1, le=3600)
    # Its card reader (docs/members.md): off (none), log (a tap records who; nothing is
    # locked) or enforce (the machine unlocks only for a member trained on it).
    access: AccessMode = Field(default=AccessMode.OFF, strict=False)
    # The board's sensors, pins and safety limits (firmware settings, docs/firmware.md).
    board: Annotated[dict[str, Any], AfterValidator(_check_board)] = Field(default_factory=dict)
    # A smart plug (or another firmware's device) instead of our board (docs/smart-plugs.md).
    source: PlugSource | None = None

    @property
    def has_relay(self) -> bool:
        """Whether Makerwatch can switch it: its board has a relay (`relay_pin: -1`
        when none is fitted), or its plug has one."""
        if self.source is not None:
            return self.source.has_relay
        return int(self.board.get("relay_pin", -1)) >= 0

    @property
    def default_name(self) -> str:
        return self.name if isinstance(self.name, str) else next(iter(self.name.values()))

    def name_in(self, language: Language) -> str:
        """The name in `language`, else the default one."""
        if isinstance(self.name, str):
            return self.name
        return self.name.get(language, self.default_name)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_DEVICE_IDS:
            raise ValueError(
                f"{value!r} is reserved for the server's own topics; choose another id"
            )
        return value

    @model_validator(mode="after")
    def _sensor_resolves_the_thresholds(self) -> Device:
        """A threshold below what the board's power sensor can tell from nothing would
        make an idling machine read as off (and a left-on alert never fire)."""
        if self.source is not None:
            return self  # a plug's meter, not the board's sensor
        settings, _ = board_settings.validate(self.board)
        floor_w = board_settings.resolvable_w(settings)
        idle_w = self.effective_thresholds.idle_above_w
        if idle_w < floor_w:
            sensor = settings["power_sensor"]
            detail = (f"{settings['ct_model']}, {settings['ct_turns']} turn(s), noise floor "
                      f"{settings['ct_noise_floor_a']:.3f} A" if sensor == "ct" else sensor)  # fmt: skip
            raise ValueError(
                f"idle_above_w {idle_w:g} W is below what its power sensor can tell from nothing "
                f"(about {floor_w:.1f} W: {detail}); use a PZEM-004T (from 0.4 W), loop the wire "
                "through the clamp several times (ct_turns), or raise the threshold"
            )
        return self

    @model_validator(mode="after")
    def _access_works_as_wired(self) -> Device:
        """A card reader's access mode needs the reader (and enforce a relay) in `board:`."""
        if self.source is not None and self.access != AccessMode.OFF:
            raise ValueError(
                f"access {self.access.value}: a {self.source.type} plug has no card reader "
                "(members tap in at one of our boards)"
            )
        settings, _ = board_settings.validate(self.board)
        problems = board_settings.access_problems(settings, self.access.value)
        if problems:  # one line each, at the board key that lacks what the mode needs
            raise ValueError("\n".join(f"board.{problem}" for problem in problems))
        return self

    @property
    def effective_thresholds(self) -> Thresholds:
        if self.thresholds is not None:
            return self.thresholds
        idle, active = DEFAULT_THRESHOLDS_W[self.kind]
        return Thresholds(idle_above_w=idle, active_above_w=active)


class Site(_Section):
    id: Slug
    name: DisplayName
    timezone: str = "Asia/Aqtobe"
    # Weekday (mon..sun) -> "HH:MM-HH:MM" ranges in local time; a missing day is closed.
    opening_hours: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("opening_hours")
    @classmethod
    def _valid_hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not one of {', '.join(WEEKDAYS)}")
            for text in ranges:
                parse_hours(text)
        return value


class MqttSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    client_id: str = Field(default="makerwatch-ingest", min_length=1, max_length=64)
    # How long the broker keeps ingest's session (subscriptions and queued
    # messages) while ingest is away.
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=60)
    # MQTT v5 Receive Maximum: unacknowledged messages the broker may send at once.
    # Ingest also enforces it itself (it stops reading at it), so it bounds its memory.
    receive_maximum: int = Field(default=1000, ge=1, le=65535)


class InfluxSettings(_Section):
    url: str = "http://127.0.0.1:8086"
    database: str = Field(default="makerwatch", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # 1.x: a user and password; 2.x and 3.x: a token (sent as `Authorization: Token`).
    username: str | None = None
    password: str | None = None
    token: str | None = Field(default=None, min_length=1, pattern=r"^[!-~]+$")
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> InfluxSettings:
        if self.token is not None and self.username is not None:
            raise ValueError("give a token (2.x, 3.x) or a username and password (1.x), not both")
        return self


class IngestSettings(_Section):
    batch_max_points: int = Field(default=5000, ge=1, le=100_000)
    batch_max_age_s: float = Field(default=0.2, gt=0, le=60)
    max_payload_bytes: int = Field(default=256 * 1024, ge=1024)
    # Readings stamped further ahead than this are refused: the board's clock is wrong.
    max_clock_skew_s: float = Field(default=300.0, ge=0)
    # Readings older than this are refused (a board buffering offline for longer
    # has lost them anyway); long enough for a 30-day backfill.
    max_reading_age_s: float = Field(default=45 * 24 * 3600.0, gt=0)
    # Raw readings (`telemetry`) older than this many days are deleted once each day's
    # energy is rolled up; every sponsor figure comes from what is kept (usage
    # segments, states, daily energy). Null: keep raw readings for ever.
    raw_retention_days: float | None = Field(default=None, gt=0)
    # Batches InfluxDB cannot take wait here, on disk, in order (null: keep them at the broker).
    spool_dir: str | None = "var/spool"
    # The record of maintenance done (maintenance.sqlite), for a site with maintenance tasks.
    maintenance_dir: str = "var/maintenance"
    spool_max_bytes: int = Field(default=1024**3, ge=1024)
    # The HTTP API (/alerts, /healthz, /metrics) listens here; null turns it off.
    # 0.0.0.0 lets staff devices and Prometheus on the network reach it.
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=8090, ge=0, le=65535)
    # HTTPS: the API's certificate (PEM, with its chain) and key. Set, it answers HTTPS
    # only; `up --lan` makes them with the site's CA (docs/operations.md, "HTTPS").
    http_certfile: str | None = None
    http_keyfile: str | None = None


class RuleName(StrEnum):
    LEFT_ON = "left_on"
    OFFLINE_WHILE_ON = "offline_while_on"
    OVER_TEMPERATURE = "over_temperature"
    NO_DATA = "no_data"
    MAINTENANCE_DUE = "maintenance_due"


class Severity(StrEnum):
    """How much a notification matters when a channel must choose: safety ones go
    first and are never dropped; info ones (an all-clear) are dropped first."""

    SAFETY = "safety"
    NORMAL = "normal"
    INFO = "info"


# The rules a site file may name, each with its severity unless the site file sets one:
# the site file's side of the rules table (makerwatch/alerts/rules has the engine's).
# A machine left on or overheating can start a fire.
DEFAULT_SEVERITY: dict[str, Severity] = {
    RuleName.LEFT_ON: Severity.SAFETY,
    RuleName.OVER_TEMPERATURE: Severity.SAFETY,
    RuleName.OFFLINE_WHILE_ON: Severity.NORMAL,
    RuleName.NO_DATA: Severity.NORMAL,
    RuleName.MAINTENANCE_DUE: Severity.NORMAL,
}


def known_rule(name: str) -> str:
    """A rule the site file may name (a `RuleName` when it is one of ours); ValueError
    lists them otherwise."""
    if name not in DEFAULT_SEVERITY:
        raise ValueError(f"unknown rule {name!r}: one of {', '.join(DEFAULT_SEVERITY)}")
    return RuleName(name) if name in RuleName.__members__.values() else name


RuleNameField = Annotated[str, AfterValidator(known_rule)]


class Rule(_Section):
    """One alert rule, for the devices or kinds it names (all devices when neither)."""

    rule: RuleNameField
    # Default: safety for left_on and over_temperature, normal for the others.
    severity: Severity | None = None
    devices: list[Slug] = Field(default_factory=list)
    kinds: list[MachineKind] = Field(default_factory=list)
    # left_on: on outside opening hours this long after closing...
    after_closing_grace_min: float = Field(default=15, ge=0)
    # ...or on and idle this long (null: not checked)...
    idle_longer_than_min: float | None = Field(default=45, gt=0)
    # ...or on this long at all (null: not checked).
    on_longer_than_min: float | None = Field(default=240, gt=0)
    # left_on, relay boards only: switch the relay off this long after firing (null: never).
    auto_off_after_min: float | None = Field(default=None, ge=0)
    # over_temperature: above this.
    above_c: float = Field(default=450, gt=-50, le=1000)
    # no_data: silent for this many of the device's telemetry periods.
    after_periods: float = Field(default=3, ge=1)

    @property
    def effective_severity(self) -> Severity:
        return self.severity or DEFAULT_SEVERITY[self.rule]

    def applies_to(self, device: Device) -> bool:
        if not self.devices and not self.kinds:
            return True
        return device.id in self.devices or device.kind in self.kinds


class Channel(_Section):
    """Where notifications go: an apprise URL (tgram://, mailto://, slack://, ntfy://, json://...)."""

    name: Slug
    url: str = Field(min_length=4)

    @field_validator("url")
    @classmethod
    def _apprise_understands(cls, url: str) -> str:
        import apprise  # only when channels are configured

        if not apprise.Apprise().add(url):
            raise ValueError("apprise cannot use this URL (see its list of services)")
        return url

    rules: list[RuleNameField] = Field(
        default_factory=lambda: list(DEFAULT_SEVERITY)
    )  # default: every rule
    language: Language | None = None  # default: the site's
    # Telegram lets a bot send about 20 messages a minute to one group.
    max_per_minute: float = Field(default=20, gt=0, le=6000)
    # Local "HH:MM-HH:MM" when only safety notifications are sent (may span midnight).
    quiet_hours: str | None = None

    @field_validator("quiet_hours")
    @classmethod
    def _valid_quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_daily_span(value)
        return value


# Kinds Makerwatch never switches off: a print cut mid-way is lost (docs/firmware.md).
NEVER_SWITCHED_OFF = frozenset({MachineKind.PRINTER_3D})


def may_switch_off(device: Device) -> bool:
    """Whether Makerwatch may switch this machine off (the board's and the chat's
    button): it has a relay, and is of a kind that is safer off."""
    return device.has_relay and device.kind not in NEVER_SWITCHED_OFF


class TelegramChat(_Section):
    """A staff group the bot serves, in its own language."""

    id: int
    language: Language | None = None  # default: the bot's


class TelegramBot(_Section):
    """The staff chat: alerts with buttons (acknowledge, switch off, snooze) and /status."""

    token: str = Field(pattern=r"^\d+:[A-Za-z0-9_-]{20,}$")
    # Staff groups: alerts go here, and every member may act on them. Each is a chat id,
    # or {id, language} for a group that reads another language than the bot's.
    chats: list[int | TelegramChat] = Field(min_length=1)
    # People who may act from anywhere, e.g. /status in a private chat with the bot.
    users: list[int] = Field(default_factory=list)
    language: Language | None = None  # default: the alerts'
    rules: list[RuleNameField] = Field(default_factory=lambda: list(DEFAULT_SEVERITY))
    max_per_minute: float = Field(default=20, gt=0, le=6000)
    # Telegram's Bot API, or a self-hosted Bot API server.
    api_url: str = "https://api.telegram.org"

    @field_validator("chats")
    @classmethod
    def _each_chat_once(cls, chats: list[int | TelegramChat]) -> list[int | TelegramChat]:
        ids = [c if isinstance(c, int) else c.id for c in chats]
        if len(set(ids)) != len(ids):
            raise ValueError("a chat is listed twice")
        return chats

    def chat_languages(self, default: Language) -> dict[int, Language]:
        """Each staff group's id and the language the bot speaks there."""
        bot = self.language or default
        return {
            chat if isinstance(chat, int) else chat.id: (
                bot if isinstance(chat, int) else chat.language or bot
            )
            for chat in self.chats
        }


class AlertSettings(_Section):
    language: Language = "ru"
    repeat_every_min: float = Field(default=30, gt=0)
    # An acknowledgement means "someone is on it": no repeats for this long.
    snooze_min: float = Field(default=60, gt=0)
    rules: list[Rule] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    telegram: TelegramBot | None = None


# A maintenance task's interval: machine-hours (time in use, `active`), on-hours (idle
# or active) or calendar days, counted from when it was last done.
MAINTENANCE_INTERVALS = ("every_active_h", "every_on_h", "every_days")


class MaintenanceTask(_Section):
    """A maintenance task for the devices or kinds it names (docs/maintenance.md)."""

    id: Slug
    # One text for every language, or one in each of kk, ru and en.
    name: DisplayName | dict[Language, DisplayName]
    devices: list[Slug] = Field(default_factory=list)
    kinds: list[MachineKind] = Field(default_factory=list)
    every_active_h: float | None = Field(default=None, gt=0)
    every_on_h: float | None = Field(default=None, gt=0)
    every_days: float | None = Field(default=None, gt=0)
    # A device in the `enforce` access mode is locked while this task is overdue.
    blocking: bool = False

    @model_validator(mode="after")
    def _complete(self) -> MaintenanceTask:
        given = [key for key in MAINTENANCE_INTERVALS if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(MAINTENANCE_INTERVALS)}")
        if not self.devices and not self.kinds:
            raise ValueError("name the devices or kinds it is for")
        if isinstance(self.name, dict) and set(self.name) != set(LANGUAGES):
            missing = ", ".join(lang for lang in LANGUAGES if lang not in self.name)
            raise ValueError(f"its name needs kk, ru and en (missing {missing})")
        return self

    @property
    def interval(self) -> tuple[str, float]:
        """(which of MAINTENANCE_INTERVALS, how many)."""
        key = next(k for k in MAINTENANCE_INTERVALS if getattr(self, k) is not None)
        return key, float(getattr(self, key))

    def name_in(self, language: Language) -> str:
        return self.name if isinstance(self.name, str) else self.name[language]

    def applies_to(self, device: Device) -> bool:
        return device.id in self.devices or device.kind in self.kinds


class StaffMember(_Section):
    """A person who may act (acknowledge, switch off, identify): their name is what
    the alert history and the channel announce; their token is what they present."""

    name: DisplayName
    token: str = Field(min_length=16, max_length=200, pattern=r"^[!-~]+$")


class BoardGroup(_Section):
    """Machines the floor board shows together, under a name staff chose."""

    # One name for every language, or one per language ({kk: ..., ru: ..., en: ...}).
    name: DisplayName | Annotated[dict[Language, DisplayName], Field(min_length=1)]
    devices: list[Slug] = Field(min_length=1)  # in the order shown

    def name_in(self, language: Language) -> str:
        if isinstance(self.name, str):
            return self.name
        return self.name.get(language, next(iter(self.name.values())))


class BoardLayout(_Section):
    """How the floor board lays the machines out. Default: every machine, grouped by
    kind, sorted by name. Groups come first, in the order listed; machines in no group
    follow, grouped by kind."""

    groups: list[BoardGroup] = Field(default_factory=list)
    hidden: list[Slug] = Field(default_factory=list)  # machines the board leaves out


class SmtpSettings(_Section):
    """The site's mail server, for the sponsors' monthly reports."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")  # From:
    timeout_s: float = Field(default=30.0, gt=0)


class Sponsor(_Section):
    """Who gets the previous month's report on the first day of each month, and the line
    that thanks them on the report and /sponsors."""

    name: DisplayName
    language: Language = "en"
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(default_factory=list)
    chat: int | None = None  # a Telegram chat the site's bot (alerts.telegram) writes to
    # A PNG, JPEG or SVG file next to the site file (made absolute when the file is
    # read), or an http(s) URL.
    logo: str | None = None
    thanks: dict[Language, str] = Field(default_factory=dict)  # the acknowledgement line

    @model_validator(mode="after")
    def _reachable(self) -> Sponsor:
        if not self.emails and self.chat is None:
            raise ValueError(f"sponsor {self.name!r}: give emails, a chat or both")
        if self.thanks and set(self.thanks) != set(get_args(Language)):
            raise ValueError(f"sponsor {self.name!r}: thanks needs a line in en, ru and kk")
        return self


# Home Assistant's discovery prefix: topic levels of letters, digits, "_", "-" or ".".
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class HomeAssistantSettings(_Section):
    """Home Assistant's MQTT discovery: each machine appears there as a device with its
    state, power, "on since" and alert (docs/home-assistant.md)."""

    discovery: bool = False
    # As set in Home Assistant's MQTT options ("Discovery prefix").
    prefix: str = Field(default="homeassistant", max_length=100)
    language: Language | None = None  # the entities' names; default: the alerts'

    @field_validator("prefix")
    @classmethod
    def _a_topic_prefix(cls, prefix: str) -> str:
        if not _PREFIX.match(prefix):
            raise ValueError(
                "must be topic levels of letters, digits, '_', '-' or '.' separated by '/' "
                "(no '+', '#', '$' or empty level)"
            )
        if prefix.split("/")[0] == TOPIC_ROOT:
            raise ValueError(f"must not be under {TOPIC_ROOT}/ (Makerwatch's own topics)")
        return prefix


class MembersSettings(_Section):
    """Members and their cards (docs/members.md)."""

    # Show a member's short name where staff look ("in use by Aigerim S. since 14:05"):
    # the floor board, /machines, `makerwatch status` and the chat. Default: no names.
    show_names: bool = False
    # The members store (SQLite): names, card keys, training. `makerwatch up` keeps it
    # in its data folder (DIR/members.sqlite), whatever this says.
    store: str = "var/members.sqlite"


class SiteConfig(_Section):
    site: Site
    devices: list[Device] = Field(min_length=1)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    influxdb: InfluxSettings = Field(default_factory=InfluxSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    staff: list[StaffMember] = Field(default_factory=list)
    board: BoardLayout = Field(default_factory=BoardLayout)
    sponsors: list[Sponsor] = Field(default_factory=list)
    smtp: SmtpSettings | None = None
    home_assistant: HomeAssistantSettings = Field(default_factory=HomeAssistantSettings)
    members: MembersSettings = Field(default_factory=MembersSettings)
    maintenance: list[MaintenanceTask] = Field(default_factory=list)
    _index: tuple[object, dict[str, Device]] = PrivateAttr(default=(None, {}))

    @field_validator("staff")
    @classmethod
    def _unique_tokens(cls, staff: list[StaffMember]) -> list[StaffMember]:
        tokens = [member.token for member in staff]
        if len(set(tokens)) != len(tokens):
            raise ValueError("two staff members have the same token")
        return staff

    @model_validator(mode="after")
    def _sponsors_reachable(self) -> SiteConfig:
        for sponsor in self.sponsors:
            if sponsor.emails and self.smtp is None:
                raise ValueError(f"sponsor {sponsor.name!r} has emails: add an smtp section")
            if sponsor.chat is not None and self.alerts.telegram is None:
                raise ValueError(
                    f"sponsor {sponsor.name!r} has a chat: add alerts.telegram (the bot)"
                )
        return self

    def staff_named_by(self, token: str) -> str | None:
        """The staff member whose token this is, compared in constant time, or None."""
        found = None
        for member in self.staff:
            if hmac.compare_digest(member.token.encode(), token.encode()):
                found = member.name
        return found

    @field_validator("devices")
    @classmethod
    def _unique_ids(cls, devices: list[Device]) -> list[Device]:
        seen: set[str] = set()
        for device in devices:
            if device.id in seen:
                raise ValueError(f"device id {device.id!r} appears more than once")
            seen.add(device.id)
        plugs: dict[tuple[object, ...], str] = {}
        for device in devices:
            if device.source is None:
                continue
            where = tuple(device.source.model_dump(exclude={"allow_remote_on"}).values())
            if where in plugs:
                raise ValueError(
                    f"device {device.id!r} reads the same plug as device {plugs[where]!r}"
                )
            plugs[where] = device.id
        return devices

    @model_validator(mode="after")
    def _board_names_known_devices(self) -> SiteConfig:
        known = {device.id for device in self.devices}
        placed: set[str] = set()
        for i, group in enumerate(self.board.groups):
            for device_id in group.devices:
                if device_id not in known:
                    raise ValueError(f"board.groups[{i}]: no device {device_id!r}")
                if device_id in placed:
                    raise ValueError(f"board.groups[{i}]: {device_id!r} is already in a group")
                placed.add(device_id)
        for device_id in self.board.hidden:
            if device_id not in known:
                raise ValueError(f"board.hidden: no device {device_id!r}")
        return self

    @field_validator("maintenance")
    @classmethod
    def _maintenance_for_known_devices(
        cls, tasks: list[MaintenanceTask], info: ValidationInfo
    ) -> list[MaintenanceTask]:
        devices: list[Device] = info.data.get("devices", [])
        known = {device.id for device in devices}
        for task in tasks:
            for device_id in task.devices:
                if device_id not in known:
                    raise ValueError(f"task {task.id!r}: no device {device_id!r}")
        for device in devices:
            ids = [task.id for task in tasks if task.applies_to(device)]
            twice = sorted({i for i in ids if ids.count(i) > 1})
            if twice:
                raise ValueError(f"task {twice[0]!r} is given twice for device {device.id!r}")
        return tasks

    def tasks_for(self, device: Device) -> list[MaintenanceTask]:
        """The maintenance tasks of a device, in the site file's order."""
        return [task for task in self.maintenance if task.applies_to(device)]

    def device(self, device_id: str) -> Device | None:
        """The device with this id: a dict look-up, ingest does one per message."""
        devices, index = self._index
        if devices is not self.devices:  # built for another list (model_copy keeps private state)
            index = {device.id: device for device in self.devices}
            self._index = (self.devices, index)
        return index.get(device_id)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys instead of keeping the last one."""


class _FastUniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same on libyaml's parser (which PyYAML's wheels carry): a site of 1,000
    machines took PyYAML's own parser most of a second at every start."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """The mapping, as PyYAML's safe loader builds it (merge keys `<<` included, an
    unhashable key refused), once no key is written twice in it."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # a merged key that the mapping sets again is an override, not a twin
        key = loader.construct_object(key_node)
        with contextlib.suppress(TypeError):  # unhashable: refused below, with its line
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
                )
            seen.add(key)
    return loader.construct_mapping(node, deep=True)


for _loader in (_UniqueKeyLoader, _FastUniqueKeyLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str) -> Any:
    """A YAML document, duplicate keys refused. Parsed by libyaml; a document it cannot
    parse is parsed again by PyYAML's own parser, whose error says more (the character
    found, the token expected)."""
    try:
        return yaml.load(text, Loader=_FastUniqueKeyLoader)
    except yaml.YAMLError:
        return yaml.load(text, Loader=_UniqueKeyLoader)


def _key_path(loc: tuple[int | str, ...], data: object = None) -> str:
    """`devices[laser-1].board.ct_model`: list items by their id where they have one."""
    path = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            ident = item.get("id", item.get("name")) if isinstance(item, dict) else None
            path += f"[{ident}]" if isinstance(ident, str) and ident else f"[{part}]"
            node = item
        else:
            path += f".{part}" if path else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return path or "(top level)"


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The settings section a key path leads to (for the keys it knows), or None."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field_info = current.model_fields.get(part)
        if field_info is None:
            return None
        current = _section_type(field_info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _section_type(annotation: Any) -> Any:
    """The model inside `list[Rule]`, `Thresholds | None` and the like."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None or get_args(annotation):
        for arg in get_args(annotation):
            found = _section_type(arg)
            if found is not None:
                return found
    return None


def _nearest(key: str, known: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def describe(
    error: ValidationError,
    path: Path,
    under: tuple[str, ...] = (),
    data: object = None,
    model: type[BaseModel] | None = None,
) -> str:
    """A validation error of a file's settings (`under`: the section validated; `data`:
    what was validated, for naming list items by id; `model`: its type, for "did you
    mean"), a line for each mistake."""
    lines = [f"{path}: invalid configuration"]
    wrapped = data
    for key in reversed(under):
        wrapped = {key: wrapped}
    items = [
        # Drop pydantic's internal location parts (function-after[...] and the like).
        (item, tuple(p for p in item["loc"] if isinstance(p, int) or "[" not in str(p)))
        for item in error.errors()
    ]
    # A misspelt required key is one mistake: the unknown key says it, not also "missing".
    suggested: set[tuple[int | str, ...]] = set()  # the keys meant
    nearest: dict[tuple[int | str, ...], str] = {}  # the key written -> the key meant
    for item, own in items:
        if item["type"] == "extra_forbidden" and own and isinstance(own[-1], str):
            section = _model_at(model, own[:-1]) if model is not None else None
            near = _nearest(own[-1], section.model_fields) if section else None
            if near:
                suggested.add((*own[:-1], near))
                nearest[own] = near
    for item, own in items:
        loc = under + own
        message = item["msg"].removeprefix("Value error, ")
        got = item.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        if item["type"] == "missing" and own in suggested:
            continue
        if item["type"] == "extra_forbidden" and own and isinstance(own[-1], str):
            near = nearest.get(own)
            section = _model_at(model, own[:-1]) if model is not None else None
            is_section = section is not None and near is not None and _section_type(
                section.model_fields[near].annotation) is not None  # fmt: skip
            message = "unknown section" if is_section and len(own) == 1 else "unknown setting"
            message += f"; did you mean {near!r}?" if near else ""
            shown = ""
        where = _key_path(loc, wrapped)
        for part in message.split("\n"):
            key, sep, rest = part.partition(": ")
            # A board's settings report one line per setting, as `key: what is wrong`.
            if sep and re.fullmatch(r"[a-z_0-9.]+", key):
                lines.append(f"  {where}.{key}: {rest}")
            else:
                lines.append(f"  {where}: {part}{shown}")
    return "\n".join(lines)


def load_site_config(path: Path) -> SiteConfig:
    """Read and validate a site file, or raise ConfigError naming file and key."""
    if not path.exists() or path.is_dir():
        what = "is a folder, not a site file" if path.is_dir() else "no site file there"
        raise ConfigError(
            f"{path}: {what}; write one with `makerwatch config init --out {path}` "
            "or start from `makerwatch config example`"
        )
    return site_config_from(path, read_yaml_file(path))


def read_yaml_file(path: Path) -> Any:
    """A YAML file's document, or ConfigError saying why not (file, line and column)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc)) from None


def site_config_from(path: Path, data: Any) -> SiteConfig:
    """A site file's parsed YAML validated, or ConfigError naming file and key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'site' and 'devices' at the top")
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, path, data=data, model=SiteConfig)) from None
    return _logos_found(config, path)


LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg")


def _logos_found(config: SiteConfig, path: Path) -> SiteConfig:
    """Each sponsor's logo file, found next to the site file and named by its whole path
    (a URL is left as it is); ConfigError names the sponsor when it is not there."""
    sponsors = []
    for index, sponsor in enumerate(config.sponsors):
        logo = sponsor.logo
        if logo is None or logo.startswith(("https://", "http://")):
            sponsors.append(sponsor)
            continue
        found = path.parent / logo
        where = f"{path}: sponsors[{index}].logo: {logo}"
        if found.suffix.lower() not in LOGO_SUFFIXES:
            raise ConfigError(f"{where}: expected a PNG, JPEG or SVG file, or an http(s) URL")
        if not found.is_file():
            raise ConfigError(f"{where}: no such file next to the site file ({found})")
        sponsors.append(sponsor.model_copy(update={"logo": str(found.resolve())}))
    return config.model_copy(update={"sponsors": sponsors}) if config.sponsors else config


def yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """`file:line:column: not valid YAML: what`, without PyYAML's "<unicode string>"."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if mark is None:
        return f"{path}: not valid YAML: {problem}"
    what = f"{problem} ({context})" if context else problem
    return (
        f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML at line {mark.line + 1}: {what}"
    )
