"""Usage statistics, defined once: every figure a sponsor, a report, the board's
sponsor page or a Grafana panel shows is computed here or from a query made here.

Each figure is an entry of the figures table (makerwatch/core/figures: what it means,
its names, its unit, its query); this module computes every entry for each machine and
sums them by kind, site and network. Beside the table, from the same usage segments:

- **days used**: days (site time) with any machine-hours;
- **busiest hours**: machine-hours by weekday and hour, site time;
- **weeks**: machine-hours per week, each with the days of it the data covers.

Periods are calendar months, ISO weeks or ranges of days in each site's own time
zone. A period's edges are local midnights, which are quarter hours in UTC, where
usage segments are cut: an on-period that crosses an edge is split at it exactly.
Only completed state periods count: a session in progress counts once it ends or
changes between idle and active.

About 400 lines: the figures' queries, their sums per machine, kind, site and network,
and the weeks and hours beside them, read as one computation.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.figures import COUNTED, by_key, every_figure
from makerwatch.core.figures.usage import ENERGY_ROLLUP
from makerwatch.core.figures.values import Figures, change
from makerwatch.core.opening_hours import open_ranges
from makerwatch.core.periods import Period, period_of
from makerwatch.core.points import SIMULATED, SOURCE_TAG
from makerwatch.core.protocol import AccessMode, MachineState
from makerwatch.core.site_config import SiteConfig
from makerwatch.core.site_figures import Counts, Query, add, count_site
from makerwatch.core.units import HOUR_MS
from makerwatch.core.usage import USAGE_MEASUREMENT

__all__ = [
    "ENERGY_KWH",
    "ENERGY_ROLLUP",
    "ENERGY_TAGS",
    "ENERGY_WH",
    "Figures",
    "MachineFigures",
    "Period",
    "Query",
    "SiteStatistics",
    "Statistics",
    "energy_rollup_query",
    "energy_so_far_queries",
    "figure_query",
    "period_of",
    "power_days_query",
    "quoted",
    "site_statistics",
    "statistics",
]


# The tags of each machine's energy series: its daily points carry exactly these.
ENERGY_TAGS = ("device", "kind", "name", "site", SOURCE_TAG)
# A machine's energy from its power readings: the trapezoidal integral, in Wh, and in kWh.
ENERGY_WH = 'integral("power_w", 1h)'
ENERGY_KWH = f'{ENERGY_WH} / 1000 AS "kwh"'


def energy_rollup_query(site: str, timezone: str, start_ms: int, end_ms: int) -> str:
    """The InfluxQL that (re)writes the daily energy of the site's local days in
    [start_ms, end_ms), which must be local midnights."""
    tags = ", ".join(f'"{tag}"' for tag in ENERGY_TAGS)
    return (
        f'SELECT {ENERGY_KWH} INTO "{ENERGY_ROLLUP}" FROM "telemetry" '
        f"WHERE site = {quoted(site)} AND {time_condition(start_ms, end_ms)} "
        f"GROUP BY time(1d), {tags} {tz_clause(timezone)}"
    )


def energy_so_far_queries(site: str, start_ms: int, end_ms: int) -> tuple[str, str]:
    """Each machine's energy in Wh in [start_ms, end_ms) and its last power reading there
    (the point the integral goes on from), one series per machine."""
    where = f"WHERE site = {quoted(site)} AND {time_condition(start_ms, end_ms)}"
    group_by = "GROUP BY " + ", ".join(f'"{tag}"' for tag in ENERGY_TAGS)
    return (
        f'SELECT {ENERGY_WH} AS "wh" FROM "telemetry" {where} {group_by}',
        f'SELECT last("power_w") FROM "telemetry" {where} {group_by}',
    )


def power_days_query(site: str, timezone: str, start_ms: int, end_ms: int) -> str:
    """The site's local days in [start_ms, end_ms) with any power reading (their count)."""
    return (
        f'SELECT count("power_w") FROM "telemetry" WHERE site = {quoted(site)} '
        f"AND {time_condition(start_ms, end_ms)} GROUP BY time(1d) fill(none) {tz_clause(timezone)}"
    )


# Each figure's per-device series, for what is summed in Python (busiest hours, days).
SEGMENTS_QUERY = f'SELECT seconds FROM {USAGE_MEASUREMENT} WHERE {{where}} GROUP BY device, kind, "name", "state"'
# When a machine first reported: its first reading, or its board's first status (kept
# when raw readings expire); first(...) answers with the time of each device's first.
FIRST_MESSAGE_QUERIES = (
    "SELECT first(seq) FROM telemetry WHERE {where} GROUP BY device",
    "SELECT first(online) FROM device_status WHERE {where} GROUP BY device",
)
# Real data only: points from the simulator carry source=sim (a missing tag is '').
REAL_DATA = f"\"{SOURCE_TAG}\" != '{SIMULATED}'"


def figure_query(
    figure: str, where: str, group_by: Iterable[str] = (), zone: str | None = None
) -> str:
    """A figure's InfluxQL for `where`, grouped by tags or `time(...)` expressions; with a
    time zone, `time(1d)` buckets are that zone's days. KeyError for a figure without one."""
    groups = list(group_by)
    template = by_key(figure).query
    if template is None:
        raise KeyError(f"figure {figure!r} has no query of its own")
    query = template.format(
        where=where, group_by=f" GROUP BY {', '.join(groups)}" if groups else ""
    )
    return f"{query} {tz_clause(zone)}" if zone else query


def tz_clause(zone: str) -> str:
    """InfluxQL's `tz()`: `time(1d)` buckets (and the times answered) on the zone's clock;
    without it they are UTC days."""
    return f"tz({quoted(zone)})"


def time_condition(start_ms: int, end_ms: int) -> str:
    return f"time >= {start_ms}ms AND time < {end_ms}ms"


def quoted(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- figures ---------------------------------------------------------------------------


@dataclass
class MachineFigures:
    site: str
    device: str
    kind: str
    name: str  # the site file's name (its default language)
    figures: Figures
    days_used: int
    first_message_ms: int


@dataclass
class SiteStatistics:
    config: SiteConfig
    period: Period  # in the site's time zone
    now_ms: int
    machines: list[MachineFigures]
    busiest_hours: list[list[float]]  # [weekday 0=Monday][hour]: machine-hours, site time
    daily_hours: dict[date, float]  # machine-hours per day, site time
    # The previous period's totals; None when the site's data does not cover all of it
    # (its boards started reporting later), so a change would compare with a fragment.
    previous: Figures | None
    simulated: bool = False  # simulated data counted too
    # The site figures (people, as counted); None when no device of the site reads cards.
    people: Counts | None = None

    @property
    def partial(self) -> bool:
        """The period is not over yet."""
        return self.period.end_ms > self.now_ms

    @property
    def total(self) -> Figures:
        return sum((m.figures for m in self.machines), Figures())

    @property
    def days_used(self) -> int:
        return sum(1 for hours in self.daily_hours.values() if hours > 0)

    @property
    def covered(self) -> tuple[date, date] | None:
        """The days of the period the data covers (site calendar): from the first
        machine's first message, or the period's first day, to today or its last day."""
        if not self.machines:
            return None
        zone = ZoneInfo(self.config.site.timezone)

        def local(ms: int) -> date:
            return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).date()

        first = max(self.period.first, local(min(m.first_message_ms for m in self.machines)))
        last = min(self.period.last, local(self.now_ms))
        return (first, last) if first <= last else None

    @property
    def machines_added(self) -> list[MachineFigures]:
        """Machines whose first message fell inside the period."""
        return [m for m in self.machines if m.first_message_ms > self.period.start_ms]


@dataclass(frozen=True)
class Week:
    """One Monday-to-Sunday week's machine-hours, with the days of it the data covers."""

    monday: date
    first: date
    last: date
    machine_hours: float

    @property
    def whole(self) -> bool:
        """All seven days counted: a week cut by the period's edges, or begun before the
        first reading, would look like a collapse in use next to whole ones."""
        return (self.last - self.first).days == 6


@dataclass
class Statistics:
    """One site's or a network's statistics for a period (each site in its own zone)."""

    sites: list[SiteStatistics]
    period_label: str = ""
    generated_ms: int = 0
    by_kind: dict[str, Figures] = field(init=False)

    def __post_init__(self) -> None:
        self.by_kind = {}
        for machine in self.machines:
            self.by_kind[machine.kind] = self.by_kind.get(machine.kind, Figures()) + machine.figures

    @property
    def machines(self) -> list[MachineFigures]:
        return [m for site in self.sites for m in site.machines]

    @property
    def total(self) -> Figures:
        return sum((s.total for s in self.sites), Figures())

    @property
    def previous(self) -> Figures | None:
        if any(s.previous is None for s in self.sites):
            return None
        return sum((s.previous or Figures() for s in self.sites), Figures())

    @property
    def by_site(self) -> dict[str, Figures]:
        return {s.config.site.id: s.total for s in self.sites}

    @property
    def days_used(self) -> int:
        """Days (each site's own calendar) on which any machine of the network was used."""
        used: set[date] = set()
        for site in self.sites:
            used |= {day for day, hours in site.daily_hours.items() if hours > 0}
        return len(used)

    @property
    def busiest_hours(self) -> list[list[float]]:
        """Machine-hours by weekday and local hour, all sites together."""
        return [
            [sum(s.busiest_hours[d][h] for s in self.sites) for h in range(24)] for d in range(7)
        ]

    @property
    def weekly_hours(self) -> dict[date, float]:
        """Machine-hours per week, keyed by the week's Monday (site calendars)."""
        weeks: dict[date, float] = {}
        for site in self.sites:
            for day, hours in site.daily_hours.items():
                monday = day - timedelta(days=day.weekday())
                weeks[monday] = weeks.get(monday, 0.0) + hours
        return dict(sorted(weeks.items()))

    @property
    def weeks(self) -> list[Week]:
        """Every week the covered days touch, empty ones included, each with its days."""
        spans = [span for s in self.sites if (span := s.covered)]
        if not spans:
            return []
        first, last = min(a for a, _ in spans), max(b for _, b in spans)
        hours = self.weekly_hours
        weeks = []
        monday = first - timedelta(days=first.weekday())
        while monday <= last:
            sunday = monday + timedelta(days=6)
            weeks.append(
                Week(monday, max(monday, first), min(sunday, last), hours.get(monday, 0.0))
            )
            monday += timedelta(days=7)
        return weeks

    def top_machines(self, count: int = 10) -> list[MachineFigures]:
        ranked = sorted(self.machines, key=lambda m: (-m.figures.machine_hours, m.site, m.device))
        return [m for m in ranked if m.figures.machine_hours > 0][:count]

    @property
    def changes(self) -> dict[str, float | None]:
        """Each compared figure against the previous period (relative; None: no base)."""
        now, before = self.total, self.previous
        compared = [f.key for f in every_figure() if f.compared]
        if before is None:
            return dict.fromkeys(compared)
        return {key: change(now[key], before[key]) for key in compared}

    @property
    def partial(self) -> bool:
        return any(s.partial for s in self.sites)

    @property
    def people(self) -> Counts | None:
        """The sites' site figures together; None when no site's devices read cards."""
        counted = [s.people for s in self.sites if s.people is not None]
        return functools.reduce(add, counted) if counted else None

    @property
    def simulated(self) -> bool:
        return any(s.simulated for s in self.sites)


# --- computing them --------------------------------------------------------------------


def _rows(series: list[dict[str, Any]]) -> Iterable[tuple[dict[str, str], list[Any]]]:
    for one in series:
        for values in one["values"]:
            yield one.get("tags", {}), values


def _per_device(series: list[dict[str, Any]]) -> dict[str, float]:
    return {tags["device"]: float(values[1] or 0) for tags, values in _rows(series)}


@dataclass
class _Use:
    """What the active usage segments say beyond the figures: the days each machine was
    used, machine-hours by weekday and hour, and per day (site time)."""

    days: dict[str, set[date]] = field(default_factory=dict)
    busiest: list[list[float]] = field(default_factory=lambda: [[0.0] * 24 for _ in range(7)])
    daily: dict[date, float] = field(default_factory=dict)

    @classmethod
    def of(
        cls, segments: list[dict[str, Any]], zone: ZoneInfo, names: dict[str, tuple[str, str]]
    ) -> _Use:
        """Also names, in `names`, each machine the segments know and the site file does not."""
        use = cls()
        for tags, (at_ms, seconds) in _rows(segments):
            device, hours = tags["device"], float(seconds) / 3600
            names.setdefault(device, (tags.get("kind", "other"), tags.get("name", device)))
            if tags["state"] != MachineState.ACTIVE:
                continue
            # A segment lies within one quarter hour, so within one local hour.
            local = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(zone)
            use.busiest[local.weekday()][local.hour] += hours
            use.daily[local.date()] = use.daily.get(local.date(), 0.0) + hours
            use.days.setdefault(device, set()).add(local.date())
        return use


async def site_statistics(
    query: Query,
    config: SiteConfig,
    period: Period,
    now_ms: int,
    *,
    with_previous: bool = True,
    simulated: bool = False,
) -> SiteStatistics:
    """One site's figures for `period` (taken in the site's time zone); simulated data
    only when asked for."""
    site = config.site
    period = period.in_zone(site.timezone)
    zone = ZoneInfo(site.timezone)
    start_ms, end_ms = period.start_ms, period.end_ms
    real = "" if simulated else f" AND {REAL_DATA}"
    where = f"site = {quoted(site.id)}{real} AND {time_condition(start_ms, end_ms)}"

    before_end = f"site = {quoted(site.id)}{real} AND time < {end_ms}ms"
    queried = [f.key for f in every_figure() if f.query is not None]
    # Independent queries, at once: InfluxDB answers them on its cores in parallel.
    first_reading, first_status, segments, *per_figure = await asyncio.gather(
        query(FIRST_MESSAGE_QUERIES[0].format(where=before_end)),
        query(FIRST_MESSAGE_QUERIES[1].format(where=before_end)),
        query(SEGMENTS_QUERY.format(where=where)),
        *(query(figure_query(key, where, ["device"])) for key in queried),
    )
    by_figure = {key: _per_device(series) for key, series in zip(queried, per_figure, strict=True)}
    first_ms: dict[str, int] = {}
    for tags, values in (*_rows(first_reading), *_rows(first_status)):
        first_ms[tags["device"]] = min(int(values[0]), first_ms.get(tags["device"], 2**63))

    names = {d.id: (d.kind.value, d.default_name) for d in config.devices}
    use = _Use.of(segments, zone, names)
    open_until = min(end_ms, now_ms)
    machines = []
    for device, (kind, name) in names.items():
        first = first_ms.get(device)
        if first is None or first >= end_ms:
            continue  # not there yet in this period
        open_ms = sum(b - a for a, b in open_ranges(site, max(start_ms, first), open_until))
        measured = {key: by_figure[key].get(device, 0.0) for key in queried}
        counted = dict(zip(COUNTED, (max(0, open_ms) / HOUR_MS, 1.0), strict=True))
        machines.append(
            MachineFigures(site.id, device, kind, name, Figures(measured | counted),
                           len(use.days.get(device, ())), first)
        )  # fmt: skip
    machines.sort(key=lambda m: m.device)
    reads_cards = any(device.access != AccessMode.OFF for device in config.devices)
    people = (
        await count_site(query, f"site = {quoted(site.id)}{real}", start_ms, end_ms)
        if reads_cards
        else None
    )
    previous = None
    earlier_period = period.previous()
    if with_previous and first_ms and min(first_ms.values()) <= earlier_period.start_ms:
        earlier = await site_statistics(
            query, config, earlier_period, now_ms, with_previous=False, simulated=simulated
        )
        previous = earlier.total
    return SiteStatistics(
        config, period, now_ms, machines, use.busiest, use.daily, previous, simulated, people
    )


async def statistics(
    query: Query,
    configs: list[SiteConfig],
    period_text: str,
    now_ms: int,
    progress: Callable[[str], object] | None = None,
    *,
    simulated: bool = False,
) -> Statistics:
    """Figures for one or more sites; `period_text` is read in each site's own zone.
    Simulated data (from `makerwatch simulate`) is left out unless `simulated`."""

    async def one(config: SiteConfig) -> SiteStatistics:
        period = period_of(period_text, config.site.timezone)
        result = await site_statistics(query, config, period, now_ms, simulated=simulated)
        if progress is not None:
            progress(config.site.id)
        return result

    sites = list(await asyncio.gather(*(one(config) for config in configs)))
    label = sites[0].period.label if sites else period_text
    return Statistics(sites, label, now_ms)
