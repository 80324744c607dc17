"""Daily energy rollups and raw-data retention, so a site keeps years of figures.

Energy is the one sponsor figure computed from raw readings: one point per machine and
local day in `energy_daily`, the trapezoidal integral of its power readings that day
(makerwatch/core/statistics.py has the definition and the query). The work is
proportional to what changed: a day is read whole once (after a start, a spool replay,
or a reading older than one already counted: a board's offline buffer, a backfill),
giving each machine's energy so far and its last reading; from then on every reading
ingest stores adds its trapezoid to its machine's day, and each minute the machines
whose energy changed are written, without reading the day again. The points are the
ones `SELECT ... INTO` over the whole day would write (same tags, the day's local
midnight), so writing them again is idempotent.

With `ingest.raw_retention_days` set, raw readings older than that are deleted once
a day, after their days are rolled up; usage segments, states, sessions, alerts and
the rollups are kept, and they are all the figures need.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.points import Point
from makerwatch.core.protocol import TELEMETRY_MEASUREMENT
from makerwatch.core.site_config import SiteConfig
from makerwatch.core.statistics import (
    ENERGY_ROLLUP,
    ENERGY_TAGS,
    energy_so_far_queries,
    power_days_query,
)
from makerwatch.core.units import DAY_MS
from makerwatch.ingest.errors import SinkError
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point

__all__ = ["Rollups"]

log = logging.getLogger(__name__)

ROLLUP_EVERY_S = 60.0
EXPIRE_EVERY_S = 86_400.0
NS_PER_HOUR = 3_600_000_000_000
POWER_FIELD = "power_w"

SeriesKey = tuple[str, ...]  # the values of ENERGY_TAGS ('' where a tag is absent)


@dataclass
class _Energy:
    """One machine's energy on one day, up to its last reading counted."""

    wh: float
    last_ns: int
    last_w: float

    def add(self, at_ns: int, power_w: float) -> None:
        # InfluxDB's own sum, term by term (its integral reducer), so the result is the
        # very number the whole day's integral gives.
        self.wh += 0.5 * (power_w + self.last_w) * float(at_ns - self.last_ns) / NS_PER_HOUR
        self.last_ns, self.last_w = at_ns, power_w


def _key(tags: Mapping[str, str]) -> SeriesKey:
    return tuple([tags.get(tag, "") for tag in ENERGY_TAGS])  # a list: faster than a generator


class Rollups:
    def __init__(
        self, config: SiteConfig, influx: InfluxClient, clock: Callable[[], float] = time.time
    ) -> None:
        self._site = config.site
        self._settings = config.ingest
        self._zone = ZoneInfo(config.site.timezone)
        self._influx = influx
        self._clock = clock
        self._dirty: set[date] = set()  # days to read whole
        self._days: dict[date, dict[SeriesKey, _Energy]] = {}  # days followed reading by reading
        self._changed: set[tuple[date, SeriesKey]] = set()  # energy not written yet
        self._reading: dict[date, list[Point]] = {}  # days being read whole: what came meanwhile
        self._expired_at = 0.0
        self._last_day: tuple[int, int, date] = (0, 0, date.min)  # [midnight, next), the day

    def _day(self, at_ms: int) -> date:
        start_ms, end_ms, day = self._last_day
        if start_ms <= at_ms < end_ms:  # most readings fall on the day the last one did
            return day
        day = datetime.fromtimestamp(at_ms / 1000, self._zone).date()
        self._last_day = (self._midnight_ms(day), self._midnight_ms(day + timedelta(days=1)), day)
        return day

    def _midnight_ms(self, day: date) -> int:
        return int(datetime.combine(day, datetime.min.time(), self._zone).timestamp() * 1000)

    async def written(self, points: list[Point]) -> None:
        """Called with every batch stored: each power reading adds to its machine's day."""
        for point in points:
            if point.measurement == TELEMETRY_MEASUREMENT and POWER_FIELD in point.fields:
                self._count(self._day(point.time_ms), _key(point.tags), point)

    def _count(self, day: date, key: SeriesKey, point: Point) -> None:
        if day in self._reading:
            self._reading[day].append(point)
        elif day not in self._days:
            self._dirty.add(day)
        else:
            self._follow(day, key, point)

    def _follow(self, day: date, key: SeriesKey, point: Point) -> None:
        power_w = float(point.fields[POWER_FIELD])  # a number
        at_ns = point.time_ns
        energy = self._days[day].get(key)
        if energy is None:  # its first reading of the day: the day was read without it
            self._days[day][key] = _Energy(0.0, at_ns, power_w)
        elif at_ns > energy.last_ns:
            energy.add(at_ns, power_w)
        elif at_ns < energy.last_ns or power_w != energy.last_w:
            self._forget(day)  # before one counted, or one counted changed: read it again
            return
        self._changed.add((day, key))

    def _forget(self, day: date) -> None:
        self._days.pop(day, None)
        self._changed = {(d, key) for d, key in self._changed if d != day}
        self._dirty.add(day)

    def mark_recent(self) -> None:
        """Every day a reading could still arrive for (after a start or a spool replay,
        which stores points this process did not see) is read whole again."""
        now_ms = int(self._clock() * 1000)
        first = self._oldest_open_day()
        last = self._day(now_ms)
        for n in range((last - first).days + 1):
            self._forget(first + timedelta(days=n))

    def _oldest_open_day(self) -> date:
        """The oldest day a reading is still accepted for (ingest.max_reading_age_s)."""
        return self._day(int((self._clock() - self._settings.max_reading_age_s) * 1000))

    def _prune(self) -> None:
        """Days no reading can come for any more, once written, are not followed."""
        first = self._oldest_open_day()
        written = {day for day, _ in self._changed}
        for day in [d for d in self._days if d < first and d not in written]:
            del self._days[day]

    async def flush(self) -> None:
        """Read every marked day whole, then write each machine's energy that changed; what
        InfluxDB could not take stays to do."""
        try:
            if len(self._dirty) > 1:
                await self._follow_empty_days()
            for day in sorted(self._dirty):
                await self._read_whole(day)
            await self._write_changed()
        except SinkError as exc:
            log.warning("energy not rolled up yet: %s", exc)
        self._prune()

    async def _follow_empty_days(self) -> None:
        """The marked days without a reading (most of those marked at a start) are followed
        from nothing, found with one query for them all instead of two queries a day."""
        days = sorted(self._dirty)
        for day in days:
            self._reading[day] = []
        try:
            end = days[-1] + timedelta(days=1)
            query = power_days_query(self._site.id, self._site.timezone,
                                     self._midnight_ms(days[0]), self._midnight_ms(end))  # fmt: skip
            series = await self._influx.query(query)
        finally:
            pending = {day: self._reading.pop(day) for day in days}
        with_readings = {self._day(row[0]) for s in series for row in s["values"]}
        for day in days:
            if day in with_readings or day not in self._dirty:
                continue  # read whole next (what came meanwhile is in what it reads)
            self._dirty.discard(day)
            self._days[day] = {}
            for point in pending[day]:
                self._count(day, _key(point.tags), point)

    async def _read_whole(self, day: date) -> None:
        self._reading[day] = []
        try:
            start, end = self._midnight_ms(day), self._midnight_ms(day + timedelta(days=1))
            kwh_query, last_query = energy_so_far_queries(self._site.id, start, end)
            so_far = await self._influx.query(kwh_query)
            last = {_key(row["tags"]): row for row in await self._influx.query(last_query)}
        except BaseException:
            self._dirty.add(day)
            del self._reading[day]
            raise
        wh = {_key(row["tags"]): row["values"][0][1] for row in so_far}
        self._days[day] = {key: _from_row(wh.get(key), row) for key, row in last.items()}
        self._changed |= {(day, key) for key in self._days[day]}
        self._dirty.discard(day)
        for point in self._reading.pop(day):  # stored while the day was read
            key = _key(point.tags)
            energy = self._days[day].get(key) if day in self._days else None
            # One not after the last the read found was in it (written() comes after the
            # store); a late one stored just after the read began is the one missed.
            if energy is None or point.time_ns > energy.last_ns:
                self._count(day, key, point)

    async def _write_changed(self) -> None:
        changed = sorted(self._changed)
        lines = [encode_point(self._point(day, key)) for day, key in changed if day in self._days]
        if lines:
            await self._influx.write(lines)
        self._changed.difference_update(changed)

    def _point(self, day: date, key: SeriesKey) -> Point:
        tags = dict(zip(ENERGY_TAGS, key, strict=True))
        kwh = self._days[day][key].wh / 1000
        return Point(ENERGY_ROLLUP, tags, {"kwh": kwh}, self._midnight_ms(day))

    async def expire_raw(self) -> None:
        """Delete raw readings older than the retention, once their days are rolled up."""
        days = self._settings.raw_retention_days
        if days is None:
            return
        cutoff = self._midnight_ms(self._day(int(self._clock() * 1000) - int(days * DAY_MS)))
        if any(
            self._midnight_ms(day) < cutoff for day in self._dirty | {d for d, _ in self._changed}
        ):
            return  # a day to expire is not rolled up yet: next time
        await self._influx.query(
            f"DELETE FROM {TELEMETRY_MEASUREMENT} WHERE site = '{self._site.id}' AND time < {cutoff}ms",
            method="POST",
        )
        log.info("raw readings before %s deleted (retention %g days)", self._day(cutoff), days)

    async def run(self) -> None:
        """Roll up every minute; apply the retention once a day."""
        self.mark_recent()
        while True:
            await self.flush()
            if self._clock() - self._expired_at >= EXPIRE_EVERY_S:
                try:
                    await self.expire_raw()
                    self._expired_at = self._clock()
                except SinkError as exc:
                    log.warning("raw readings not expired yet: %s", exc)
            await asyncio.sleep(ROLLUP_EVERY_S)  # the rollup cadence


def _from_row(wh: float | None, last: Mapping[str, Any]) -> _Energy:
    """A machine's day as InfluxDB holds it: its energy so far and its last reading."""
    at_ms, power_w = last["values"][0][0], last["values"][0][1]
    return _Energy(float(wh or 0.0), int(at_ms) * 1_000_000, float(power_w))
