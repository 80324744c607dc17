"""Times and spans as people read them, and the one line that says since when a machine
is on and for how long: the chat's /status and `makerwatch status` both print it (the
floor board's page says the same words, from board_texts, in its own script)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from makerwatch.core.site_config import Language
from makerwatch.core.vocabulary import DURATION_UNITS, TERMS

__all__ = ["FOR_WORDS", "ON_SINCE_WORDS", "duration", "local_time", "on_since_line", "span"]

# "on since 06:26 · for 4 min": each part as a tile, a status line and a chat line say it.
ON_SINCE_WORDS: dict[Language, str] = {
    "en": "on since {at}",
    "ru": "включено с {at}",
    "kk": "{at} бастап қосулы",
}
FOR_WORDS: dict[Language, str] = {
    "en": "for {duration}",
    "ru": "уже {duration}",
    "kk": "{duration} бойы",
}
SEPARATOR = " \u00b7 "


def duration(seconds: float, language: Language) -> str:
    """'2 h 15 min', '2 ч 15 мин', '2 сағ 15 мин'; days for long spans ('1 сут. 3 ч')."""
    day, hour, minute, _ = DURATION_UNITS[language]
    minutes = max(1, round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} {day}")
    if hours:
        parts.append(f"{hours} {hour}")
    if minutes and not days:
        parts.append(f"{minutes} {minute}")
    return " ".join(parts)


def span(seconds: float, language: Language) -> str:
    """Seconds under a minute ('12 s'), as the board's tiles say them; else duration()."""
    if seconds < 59.5:
        return f"{round(max(0.0, seconds))} {DURATION_UNITS[language][3]}"
    return duration(seconds, language)


def local_time(at_ms: int, timezone: str, now_ms: int | None = None) -> str:
    """'19:15' in the site's time zone, with the date ('28.11 19:15') when not today."""
    zone = ZoneInfo(timezone)
    at = datetime.fromtimestamp(at_ms / 1000, zone)
    today = datetime.fromtimestamp((now_ms if now_ms is not None else at_ms) / 1000, zone).date()
    return at.strftime("%H:%M") if at.date() == today else at.strftime("%d.%m %H:%M")


def on_since_line(
    language: Language,
    timezone: str,
    now_ms: int,
    *,
    on_since_ms: int | None,
    since_ms: int | None,
    who: str | None = None,
) -> str:
    """'on since 06:26 · for 4 min' (or 'in use by Aigerim S. since 06:26 · for 4 min'):
    since when the machine is on, and how long it has been in its present state."""
    parts = []
    if on_since_ms:
        at = local_time(on_since_ms, timezone, now_ms)
        if who:
            parts.append(TERMS["in_use_by"][language].format(who=who, at=at))
        else:
            parts.append(ON_SINCE_WORDS[language].format(at=at))
    if since_ms:
        parts.append(
            FOR_WORDS[language].format(duration=span((now_ms - since_ms) / 1000, language))
        )
    return SEPARATOR.join(parts)
