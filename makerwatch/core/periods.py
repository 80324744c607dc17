"""Periods of the statistics: calendar months (`2026-11`), ISO weeks (`2026-W47`) and
ranges of days (`2026-11-01..2026-11-15`), each in one time zone, read exactly as
written; the period before and after."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["FIRST_DAY", "LAST_DAY", "Period", "period_of"]

# ASCII digits only: Python's int() also reads other scripts' digits.
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")
_RANGE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\.\.([0-9]{4}-[0-9]{2}-[0-9]{2})")
# The days a period, and the period of the same length before it (the comparison),
# may cover: well inside what Python's dates and InfluxDB's times (1677 to 2262) hold,
# in any time zone, and far wider than any makerspace's history.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)


@dataclass(frozen=True)
class Period:
    """Whole days first..last (inclusive) in one time zone."""

    kind: str  # month, week or range
    first: date
    last: date
    zone: str

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.first:%Y-%m}"
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start_ms(self) -> int:
        return _local_midnight_ms(self.first, self.zone)

    @property
    def end_ms(self) -> int:
        return _local_midnight_ms(self.last + timedelta(days=1), self.zone)

    def in_zone(self, zone: str) -> Period:
        """The same calendar days in another site's time zone."""
        return Period(self.kind, self.first, self.last, zone)

    def previous(self) -> Period:
        """The month, week or range of the same length just before."""
        if self.kind == "month":
            last = self.first - timedelta(days=1)
            return Period("month", last.replace(day=1), last, self.zone)
        length = timedelta(days=self.days)
        return Period(self.kind, self.first - length, self.last - length, self.zone)

    def following(self) -> Period:
        """The month, week or range of the same length just after."""
        if self.kind == "month":
            first = self.last + timedelta(days=1)
            last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
            return Period("month", first, last, self.zone)
        length = timedelta(days=self.days)
        return Period(self.kind, self.first + length, self.last + length, self.zone)


def _local_midnight_ms(day: date, zone: str) -> int:
    return int(datetime.combine(day, time(0), ZoneInfo(zone)).timestamp() * 1000)


def period_of(text: str, zone: str) -> Period:
    """`2026-11` (a month), `2026-W47` (an ISO week) or `2026-11-01..2026-11-15`
    (days, both included), in time zone `zone`; ValueError says what is expected.
    Exactly that form: nothing around it (a space or a newline is not a period)."""
    period = _parsed(text, zone)
    if period is None:
        raise ValueError(
            f"period {text!r}: expected a month (2026-11), an ISO week (2026-W47) "
            "or days (2026-11-01..2026-11-15)"
        )
    if period.last > LAST_DAY or period.first < FIRST_DAY or period.previous().first < FIRST_DAY:
        raise ValueError(
            f"period {text!r}: out of range: it and the period of the same length before it "
            f"must lie within {FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()}"
        )
    return period


def _parsed(text: str, zone: str) -> Period | None:
    try:
        if match := _MONTH.fullmatch(text):
            first = date(int(match[1]), int(match[2]), 1)
            following = (first + timedelta(days=32)).replace(day=1)
            return Period("month", first, following - timedelta(days=1), zone)
        if match := _WEEK.fullmatch(text):
            first = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return Period("week", first, first + timedelta(days=6), zone)
        if match := _RANGE.fullmatch(text):
            first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
            if last >= first:
                return Period("range", first, last, zone)
    except (ValueError, OverflowError):  # no such day, or past the last date Python has
        pass
    return None
