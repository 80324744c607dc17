"""When people use each machine: arrivals in the site's opening hours, deterministic from a seed.

Afternoons are busier than mornings and Saturdays busier than weekdays; one
session in ten runs twice as long. People leave at closing time, except from
machines that run unattended (a long print).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from makerwatch.core.opening_hours import open_ranges
from makerwatch.core.site_config import Site
from makerwatch.core.units import HOUR_MS
from makerwatch.sim.machine import Visit
from makerwatch.sim.profiles import Profile

__all__ = ["hourly_weight", "visits"]

AFTERNOON_WEIGHT = 1.8  # 13:00-18:00
SATURDAY_WEIGHT = 1.5
LONG_SESSION_CHANCE = 0.1


def hourly_weight(local: datetime) -> float:
    weight = AFTERNOON_WEIGHT if 13 <= local.hour < 18 else 1.0
    return weight * (SATURDAY_WEIGHT if local.weekday() == 5 else 1.0)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def visits(
    site: Site,
    profile: Profile,
    start_ms: int,
    end_ms: int,
    rng: random.Random,
    *,
    always_open: bool = False,
    minutes_scale: float = 1.0,
    arrivals_scale: float = 1.0,
) -> Iterator[Visit]:
    """Non-overlapping visits on one machine between start_ms and end_ms, in order, planned
    an hour at a time as they are asked for (a year of the demo is never held at once)."""
    ranges = [(start_ms, end_ms)] if always_open else open_ranges(site, start_ms, end_ms)
    zone = ZoneInfo(site.timezone)
    busy_until = 0
    for opens, closes in ranges:
        hour = opens
        while hour < closes:
            span = min(HOUR_MS, closes - hour)
            local = datetime.fromtimestamp(hour / 1000, UTC).astimezone(zone)
            mean = (
                profile.sessions_per_open_hour
                * arrivals_scale
                * hourly_weight(local)
                * span
                / HOUR_MS
            )
            arrivals = sorted(hour + int(rng.random() * span) for _ in range(_poisson(rng, mean)))
            for arrival in arrivals:
                minutes = rng.uniform(*profile.session_minutes) * minutes_scale
                if rng.random() < LONG_SESSION_CHANCE:
                    minutes *= 2
                if arrival < busy_until:
                    continue  # the machine is taken; this person does something else
                end = arrival + int(minutes * 60_000)
                if not profile.unattended:
                    end = min(end, closes)
                end = min(end, end_ms)
                if end > arrival:
                    yield Visit(arrival, end)
                    busy_until = end
            hour += span
