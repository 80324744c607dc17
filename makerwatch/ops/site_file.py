"""`makerwatch config init`: a new site file from answers (flags, or questions in a
terminal), validated by the same rules as every site file before it is written."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError

from makerwatch.core.errors import ConfigError
from makerwatch.core.opening_hours import WEEKDAYS, parse_hours
from makerwatch.core.protocol import SLUG_PATTERN
from makerwatch.core.site_config import MachineKind, SiteConfig

__all__ = [
    "KAZAKHSTAN_ZONES",
    "SiteAnswers",
    "ask_missing",
    "parse_days_hours",
    "parse_device",
    "site_file_text",
]

STAFF_TOKEN_BYTES = 24


@dataclass
class SiteAnswers:
    site_id: str
    name: str
    timezone: str = "Asia/Aqtobe"
    language: str = "ru"
    hours: dict[str, list[str]] = field(default_factory=dict)
    devices: list[dict[str, str]] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)


def parse_days_hours(text: str) -> dict[str, list[str]]:
    """'mon-fri 10:00-19:00' or 'sat 12:00-18:00' as opening hours, or ConfigError."""
    match = re.fullmatch(r"\s*([a-z]{3})(?:-([a-z]{3}))?\s+(\S+)\s*", text.lower())
    if not match or match[1] not in WEEKDAYS or (match[2] and match[2] not in WEEKDAYS):
        raise ConfigError(f"opening hours {text!r}: expected e.g. 'mon-fri 10:00-19:00'")
    first = WEEKDAYS.index(match[1])
    last = WEEKDAYS.index(match[2]) if match[2] else first
    try:
        parse_hours(match[3])
    except ValueError as exc:
        raise ConfigError(f"opening hours {text!r}: {exc}") from None
    return {WEEKDAYS[day]: [match[3]] for day in range(first, last + 1)}


def parse_device(text: str) -> dict[str, str]:
    """'solder-1:soldering_station:Soldering station 1' as a device, or ConfigError."""
    parts = text.split(":", 2)
    kinds = ", ".join(kind.value for kind in MachineKind)
    if len(parts) != 3 or parts[1] not in {kind.value for kind in MachineKind}:
        raise ConfigError(f"device {text!r}: expected ID:KIND:NAME, KIND one of {kinds}")
    return {"id": parts[0], "kind": parts[1], "name": parts[2]}


def site_file_text(answers: SiteAnswers) -> tuple[str, dict[str, str]]:
    """The site file's YAML, and each staff member's new token (shown once)."""
    tokens = {name: secrets.token_urlsafe(STAFF_TOKEN_BYTES) for name in answers.staff}
    data: dict[str, Any] = {
        "site": {
            "id": answers.site_id,
            "name": answers.name,
            "timezone": answers.timezone,
            "opening_hours": answers.hours,
        },
        "devices": answers.devices,
        "alerts": {"language": answers.language},
    }
    if tokens:
        data["staff"] = [{"name": name, "token": token} for name, token in tokens.items()]
    try:
        SiteConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
    header = (
        "# Makerwatch site file, written by `makerwatch config init`.\n"
        "# Every setting: docs/configuration.md (`makerwatch config example` prints them all).\n"
    )
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), tokens


# Kazakhstan's time zones (IANA) and the cities on each, for the site to find its own.
KAZAKHSTAN_ZONES = (
    ("Asia/Almaty", "Almaty, Astana, Shymkent, Karaganda, Pavlodar, Oskemen, Semey, Taraz, "
                    "Kokshetau, Petropavl, Taldykorgan, Turkistan, Zhezkazgan"),
    ("Asia/Aqtobe", "Aktobe"),
    ("Asia/Oral", "Oral (Uralsk)"),
    ("Asia/Qostanay", "Kostanay"),
    ("Asia/Qyzylorda", "Kyzylorda"),
    ("Asia/Atyrau", "Atyrau"),
    ("Asia/Aqtau", "Aktau"),
)  # fmt: skip
LANGUAGE_CHOICES = ("kk", "ru", "en")
DEFAULT_HOURS = "mon-sat 10:00-19:00"


def _site_id(text: str) -> str:
    if not re.fullmatch(SLUG_PATTERN, text):
        raise ConfigError(f"{text!r}: lower-case letters, digits and -, up to 32 characters")
    return text


def _site_name(text: str) -> str:
    if not text:
        raise ConfigError("the name may not be empty")
    return text


def _timezone(text: str) -> str:
    if text.isdigit() and 1 <= int(text) <= len(KAZAKHSTAN_ZONES):
        return KAZAKHSTAN_ZONES[int(text) - 1][0]
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{text!r}: give a number from the list or an IANA name such as Asia/Oral"
        ) from None
    return text


def _language(text: str) -> str:
    if text not in LANGUAGE_CHOICES:
        raise ConfigError(f"{text!r}: one of {', '.join(LANGUAGE_CHOICES)}")
    return text


def _hours(text: str) -> dict[str, list[str]]:
    hours: dict[str, list[str]] = {}
    for part in text.split(","):
        hours.update(parse_days_hours(part))
    return hours


def _ask_until_valid(ask: Callable[[str], str], say: Callable[[str], None], prompt: str,
                     check: Callable[[str], Any], default: str | None = None) -> Any:  # fmt: skip
    """Ask until the answer passes `check`; a wrong answer is said and asked again.
    EOFError (the input ended) goes to the caller."""
    while True:
        text = ask(prompt).strip() or (default or "")
        try:
            return check(text)
        except ConfigError as exc:
            say(f"  {exc}; try again")


def ask_missing(
    answers: dict[str, Any], ask: Callable[[str], str], say: Callable[[str], None] = print
) -> None:
    """Fill what the flags left out by asking (in a terminal, or from piped answers):
    the site, its time zone, language, opening hours, as many machines and staff
    members as wanted. Raises EOFError when the answers end first."""
    if not answers.get("site_id"):
        answers["site_id"] = _ask_until_valid(
            ask, say, "Site id (lower case, e.g. oral): ", _site_id
        )
    if not answers.get("name"):
        answers["name"] = _ask_until_valid(
            ask, say, "Site name (e.g. Makerspace Oral): ", _site_name
        )
    if not answers.get("timezone"):
        say("Time zone: a number, or any IANA name")
        for number, (zone, cities) in enumerate(KAZAKHSTAN_ZONES, start=1):
            say(f"  {number}. {zone}: {cities}")
        answers["timezone"] = _ask_until_valid(ask, say, "Time zone: ", _timezone)
    if not answers.get("language"):
        answers["language"] = _ask_until_valid(
            ask, say, "Language of staff messages (kk, ru, en) [ru]: ", _language, "ru"
        )
    if not answers.get("hours"):
        answers["hours"] = _ask_until_valid(
            ask, say, f"Opening hours, e.g. mon-fri 10:00-19:00, sat 12:00-18:00 [{DEFAULT_HOURS}]: ",
            _hours, DEFAULT_HOURS,
        )  # fmt: skip
    if not answers.get("devices"):
        answers["devices"] = _ask_devices(ask, say)
    if answers.get("staff") is None:
        answers["staff"] = _ask_staff(ask, say)


def _ask_devices(ask: Callable[[str], str], say: Callable[[str], None]) -> list[dict[str, str]]:
    kinds = ", ".join(kind.value for kind in MachineKind)
    say(f"Machines, one a line as ID:KIND:NAME (KIND: {kinds}); an empty line when done.")
    devices: list[dict[str, str]] = []
    while True:
        prompt = f"Machine {len(devices) + 1}: "
        device = _ask_until_valid(ask, say, prompt, lambda t: _new_device(t, devices))
        if device is None:
            return devices
        devices.append(device)


def _ask_staff(ask: Callable[[str], str], say: Callable[[str], None]) -> list[str]:
    say("Staff who may act on alerts, a name a line; an empty line when done.")
    staff: list[str] = []
    while name := ask(f"Staff member {len(staff) + 1}: ").strip():
        staff.append(name)
    return staff


def _new_device(text: str, devices: list[dict[str, str]]) -> dict[str, str] | None:
    """A machine's answer: None for the empty line that ends the list (once there is one)."""
    if not text:
        if not devices:
            raise ConfigError("a site needs at least one machine")
        return None
    device = parse_device(text)
    _site_id(device["id"])
    if any(d["id"] == device["id"] for d in devices):
        raise ConfigError(f"{device['id']!r} is already a machine of this site")
    return device
