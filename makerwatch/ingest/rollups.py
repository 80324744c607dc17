"""Daily energy rollups and raw-data retention, so a site keeps years of figures.

Energy is the one sponsor figure computed from raw readings; every day that received
readings is rolled up (again) into `energy_daily` a little later: one point per
machine and local day (makerwatch/core/statistics.py has the query). Late readings,
a board's offline buffer and a backfill mark their days too, so a rollup is
recomputed until its day is complete. Rolling up is idempotent: the same day gives
the same points.

With `ingest.raw_retention_days` set, raw readings older than that are deleted once
a day, after their days are rolled up; usage segments, states, sessions, alerts and
the rollups are kept, and they are all the figures need.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from makerwatch.core.points import Point
from makerwatch.core.protocol import TELEMETRY_MEASUREMENT
from makerwatch.core.site_config import SiteConfig
from makerwatch.core.statistics import energy_rollup_query
from makerwatch.core.units import DAY_MS
from makerwatch.ingest.errors import SinkError
from makerwatch.ingest.influx import InfluxClient

__all__ = ["Rollups"]

log = logging.getLogger(__name__)

ROLLUP_EVERY_S = 60.0
EXPIRE_EVERY_S = 86_400.0


class Rollups:
    def __init__(
        self, config: SiteConfig, influx: InfluxClient, clock: Callable[[], float] = time.time
    ) -> None:
        self._site = config.site
        self._settings = config.ingest
        self._zone = ZoneInfo(config.site.timezone)
        self._influx = influx
        self._clock = clock
        self._dirty: set[date] = set()
        self._expired_at = 0.0

    def _day(self, at_ms: int) -> date:
        return datetime.fromtimestamp(at_ms / 1000, self._zone).date()

    def _midnight_ms(self, day: date) -> int:
        return int(datetime.combine(day, datetime.min.time(), self._zone).timestamp() * 1000)

    async def written(self, points: list[Point]) -> None:
        """Called with every batch stored: the days that got readings need a rollup."""
        for point in points:
            if point.measurement == TELEMETRY_MEASUREMENT:
                self._dirty.add(self._day(point.time_ms))

    def mark_recent(self) -> None:
        """Every day a reading could still arrive for (after a start or a spool replay,
        which stores points this process did not see)."""
        now_ms = int(self._clock() * 1000)
        first = self._day(now_ms - int(self._settings.max_reading_age_s * 1000))
        last = self._day(now_ms)
        self._dirty |= {first + timedelta(days=n) for n in range((last - first).days + 1)}

    async def flush(self) -> None:
        """Roll up every marked day; a day InfluxDB could not take stays marked."""
        for day in sorted(self._dirty):
            query = energy_rollup_query(
                self._site.id,
                self._site.timezone,
                self._midnight_ms(day),
                self._midnight_ms(day + timedelta(days=1)),
            )
            try:
                await self._influx.query(query, method="POST")  # SELECT ... INTO writes
            except SinkError as exc:
                log.warning("energy of %s not rolled up yet: %s", day, exc)
                return
            self._dirty.discard(day)

    async def expire_raw(self) -> None:
        """Delete raw readings older than the retention, once their days are rolled up."""
        days = self._settings.raw_retention_days
        if days is None:
            return
        cutoff = self._midnight_ms(self._day(int(self._clock() * 1000) - int(days * DAY_MS)))
        if any(self._midnight_ms(day) < cutoff for day in self._dirty):
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
