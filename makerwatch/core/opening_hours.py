"""The site's opening hours as epoch-millisecond ranges, in its own time zone."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from makerwatch.core.units import DAY_MS

if TYPE_CHECKING:
    from makerwatch.core.site_config import Site

__all__ = [
    "WEEKDAYS", "is_open", "last_closing_ms", "next_closing_ms", "open_ranges", "parse_daily_span",
    "parse_hours", "within_daily_span",
]  # fmt: skip

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")


def parse_hours(text: str) -> tuple[time, time]:
    """`HH:MM-HH:MM` as (opens, closes), or ValueError; `24:00` closes at the day's end."""
    match = _HOURS_RE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r} is not a valid time range")
    opens, closes = time(h1, m1), (time(23, 59, 59) if h2 == 24 else time(h2, m2))
    if closes <= opens:
        raise ValueError(f"{text!r} closes before it opens")
    return opens, closes


def parse_daily_span(text: str) -> tuple[time, time]:
    """`HH:MM-HH:MM` that may run past midnight (22:00-08:00), or ValueError."""
    match = _HOURS_RE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if max(h1, h2) > 23 or max(m1, m2) > 59 or (h1, m1) == (h2, m2):
        raise ValueError(f"{text!r} is not a valid time range")
    return time(h1, m1), time(h2, m2)


def within_daily_span(span: tuple[time, time], at: time) -> bool:
    start, end = span
    return start <= at < end if start < end else (at >= start or at < end)


def open_ranges(site: Site, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """The open periods overlapping [start_ms, end_ms), clipped to it, oldest first."""
    zone = ZoneInfo(site.timezone)
    day = datetime.fromtimestamp(start_ms / 1000, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end_ms / 1000, zone).date()
    ranges = []
    while day <= last:
        for text in site.opening_hours.get(WEEKDAYS[day.weekday()], []):
            opens, closes = parse_hours(text)
            a = int(datetime.combine(day, opens, zone).timestamp() * 1000)
            b = int(datetime.combine(day, closes, zone).timestamp() * 1000)
            if b > start_ms and a < end_ms:
                ranges.append((max(a, start_ms), min(b, end_ms)))
        day += timedelta(days=1)
    return ranges


def is_open(site: Site, t_ms: int) -> bool:
    return bool(open_ranges(site, t_ms, t_ms + 1))


def last_closing_ms(site: Site, t_ms: int) -> int | None:
    """When the space last closed at or before t_ms (within a week), or None."""
    closings = [b for a, b in open_ranges(site, t_ms - 7 * DAY_MS, t_ms + 1) if b <= t_ms]
    return closings[-1] if closings else None


def next_closing_ms(site: Site, t_ms: int) -> int | None:
    """When the space next closes after t_ms (within a week), or None."""
    closings = [
        b
        for a, b in open_ranges(site, t_ms, t_ms + 7 * DAY_MS)
        if b > t_ms and b < t_ms + 7 * DAY_MS
    ]
    return closings[0] if closings else None


def next_opening_ms(site: Site, t_ms: int) -> int | None:
    """When the space next opens after t_ms (within a week), or None."""
    openings = [a for a, b in open_ranges(site, t_ms, t_ms + 7 * DAY_MS) if a > t_ms]
    return openings[0] if openings else None
