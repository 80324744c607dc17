"""`makerwatch config init`: a new site file from answers (flags, or questions in a
terminal), validated by the same rules as every site file before it is written."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from makerwatch.core.errors import ConfigError
from makerwatch.core.opening_hours import WEEKDAYS, parse_hours
from makerwatch.core.site_config import MachineKind, SiteConfig

__all__ = ["SiteAnswers", "parse_days_hours", "parse_device", "site_file_text"]

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


def ask_missing(answers: dict[str, Any], ask: Callable[[str], str]) -> None:
    """Fill what the flags left out by asking (in a terminal)."""
    if not answers.get("site_id"):
        answers["site_id"] = ask("Site id (lower case, e.g. aktobe): ").strip()
    if not answers.get("name"):
        answers["name"] = ask("Site name (e.g. Makerspace Aktobe): ").strip()
    if not answers.get("hours"):
        text = ask("Opening hours [mon-sat 10:00-19:00]: ").strip() or "mon-sat 10:00-19:00"
        answers["hours"] = {}
        for part in text.split(","):
            answers["hours"].update(parse_days_hours(part))
    while not answers.get("devices"):
        text = ask("A machine as ID:KIND:NAME (e.g. solder-1:soldering_station:Soldering 1): ")
        if text.strip():
            answers["devices"] = [parse_device(text.strip())]
