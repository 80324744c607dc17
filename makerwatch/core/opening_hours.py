"""The site's opening hours as epoch-millisecond ranges, in its own time zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from makerwatch.core.site_config import Site

__all__ = ["is_open", "last_closing_ms", "next_closing_ms", "open_ranges"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MS = 86_400_000


def _parse(text: str) -> time:
    return time.fromisoformat(text if text != "24:00" else "23:59:59")


def open_ranges(site: Site, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """The open periods overlapping [start_ms, end_ms), clipped to it, oldest first."""
    zone = ZoneInfo(site.timezone)
    day = datetime.fromtimestamp(start_ms / 1000, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end_ms / 1000, zone).date()
    ranges = []
    while day <= last:
        for text in site.opening_hours.get(WEEKDAYS[day.weekday()], []):
            opens, closes = (_parse(part) for part in text.split("-"))
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
