"""Usage statistics, defined once: every figure a sponsor, a report, the board's
sponsor page or a Grafana panel shows is computed here or from a query made here.

Figures (docs/statistics.md has each with its InfluxQL):

- **machine-hours**: time in `active` (makerwatch/core/usage.py), from usage segments;
- **on-hours**: time in `idle` or `active`;
- **sessions**: times a machine left `off` (a session counts in the period it starts);
- **energy (kWh)**: the trapezoidal integral of each machine's power readings;
- **utilisation**: machine-hours over the opening hours each machine was there for
  (from its first message on, so a machine added mid-month is not penalised);
- **days used**: days (site time) with any machine-hours;
- **busiest hours**: machine-hours by weekday and hour, site time.

Periods are calendar months, ISO weeks or ranges of days in each site's own time
zone. A period's edges are local midnights, which are quarter hours in UTC, where
usage segments are cut: an on-period that crosses an edge is split at it exactly.
Only completed state periods count: a session in progress counts once it ends or
changes between idle and active.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.opening_hours import open_ranges
from makerwatch.core.points import SIMULATED, SOURCE_TAG
from makerwatch.core.protocol import MachineState
from makerwatch.core.site_config import SiteConfig
from makerwatch.core.units import HOUR_MS
from makerwatch.core.usage import USAGE_MEASUREMENT

__all__ = [
    "ENERGY_KWH",
    "ENERGY_ROLLUP",
    "ENERGY_TAGS",
    "ENERGY_WH",
    "FIGURE_QUERIES",
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
    "site_statistics",
    "statistics",
]

# Runs InfluxQL, returns the series (InfluxClient.query, time in epoch ms).
Query = Callable[[str], Awaitable[list[dict[str, Any]]]]

# Energy is rolled up by ingest into one point per machine and local day: the
# trapezoidal integral of its power readings that day (an integral over several
# machines' readings mixed together would mean nothing). Raw readings may then expire.
ENERGY_ROLLUP = "energy_daily"


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
        f"WHERE site = {_quoted(site)} AND {time_condition(start_ms, end_ms)} "
        f"GROUP BY time(1d), {tags} {tz_clause(timezone)}"
    )


def energy_so_far_queries(site: str, start_ms: int, end_ms: int) -> tuple[str, str]:
    """Each machine's energy in Wh in [start_ms, end_ms) and its last power reading there
    (the point the integral goes on from), one series per machine."""
    where = f"WHERE site = {_quoted(site)} AND {time_condition(start_ms, end_ms)}"
    group_by = "GROUP BY " + ", ".join(f'"{tag}"' for tag in ENERGY_TAGS)
    return (
        f'SELECT {ENERGY_WH} AS "wh" FROM "telemetry" {where} {group_by}',
        f'SELECT last("power_w") FROM "telemetry" {where} {group_by}',
    )


def power_days_query(site: str, timezone: str, start_ms: int, end_ms: int) -> str:
    """The site's local days in [start_ms, end_ms) with any power reading (their count)."""
    return (
        f'SELECT count("power_w") FROM "telemetry" WHERE site = {_quoted(site)} '
        f"AND {time_condition(start_ms, end_ms)} GROUP BY time(1d) fill(none) {tz_clause(timezone)}"
    )


# Each figure's InfluxQL, with {where} (site, device and time conditions) and {group_by}
# (e.g. " GROUP BY kind", or Grafana's time buckets) to fill in.
FIGURE_QUERIES: dict[str, str] = {
    "machine_hours": (
        f"SELECT sum(seconds) / 3600 AS machine_hours FROM {USAGE_MEASUREMENT} "
        f"WHERE state = '{MachineState.ACTIVE}' AND {{where}}{{group_by}}"
    ),
    "on_hours": (
        f"SELECT sum(seconds) / 3600 AS on_hours FROM {USAGE_MEASUREMENT} WHERE {{where}}{{group_by}}"
    ),
    "sessions": (
        "SELECT count(state) AS sessions FROM state "
        f"WHERE previous = '{MachineState.OFF}' AND {{where}}{{group_by}}"
    ),
    "energy_kwh": f"SELECT sum(kwh) AS energy_kwh FROM {ENERGY_ROLLUP} WHERE {{where}}{{group_by}}",
}
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
    time zone, `time(1d)` buckets are that zone's days."""
    groups = list(group_by)
    query = FIGURE_QUERIES[figure].format(
        where=where, group_by=f" GROUP BY {', '.join(groups)}" if groups else ""
    )
    return f"{query} {tz_clause(zone)}" if zone else query


def tz_clause(zone: str) -> str:
    """InfluxQL's `tz()`: `time(1d)` buckets (and the times answered) on the zone's clock;
    without it they are UTC days."""
    return f"tz({_quoted(zone)})"


def time_condition(start_ms: int, end_ms: int) -> str:
    return f"time >= {start_ms}ms AND time < {end_ms}ms"


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- periods -------------------------------------------------------------------------

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


# --- figures ---------------------------------------------------------------------------


@dataclass
class Figures:
    """The additive figures of one machine or of a group of them."""

    machine_hours: float = 0.0
    on_hours: float = 0.0
    sessions: int = 0
    energy_kwh: float = 0.0
    open_hours: float = 0.0  # the opening hours each machine was there for, summed
    machines: int = 0

    @property
    def utilisation(self) -> float | None:
        """Machine-hours as a share of opening hours (above 1 when machines run after closing)."""
        return self.machine_hours / self.open_hours if self.open_hours else None

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Figures)))


def change(current: float | None, previous: float | None) -> float | None:
    """The relative change against the previous period, or None without a base."""
    if current is None or not previous:
        return None
    return (current - previous) / previous


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
        """Each headline figure against the previous period (relative; None: no base)."""
        now, before = self.total, self.previous
        if before is None:
            return dict.fromkeys(
                ("machine_hours", "on_hours", "sessions", "energy_kwh", "utilisation")
            )
        return {
            "machine_hours": change(now.machine_hours, before.machine_hours),
            "on_hours": change(now.on_hours, before.on_hours),
            "sessions": change(now.sessions, before.sessions),
            "energy_kwh": change(now.energy_kwh, before.energy_kwh),
            "utilisation": change(now.utilisation, before.utilisation),
        }

    @property
    def partial(self) -> bool:
        return any(s.partial for s in self.sites)

    @property
    def simulated(self) -> bool:
        return any(s.simulated for s in self.sites)


# --- computing them --------------------------------------------------------------------


def _rows(series: list[dict[str, Any]]) -> Iterable[tuple[dict[str, str], list[Any]]]:
    for one in series:
        for values in one["values"]:
            yield one.get("tags", {}), values


async def _per_device(query: Query, influxql: str) -> dict[str, float]:
    return {tags["device"]: float(values[1] or 0) for tags, values in _rows(await query(influxql))}


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
    where = f"site = {_quoted(site.id)}{real} AND {time_condition(start_ms, end_ms)}"

    before_end = f"site = {_quoted(site.id)}{real} AND time < {end_ms}ms"
    # Independent queries, at once: InfluxDB answers them on its cores in parallel.
    first_reading, first_status, sessions, energy, segments = await asyncio.gather(
        query(FIRST_MESSAGE_QUERIES[0].format(where=before_end)),
        query(FIRST_MESSAGE_QUERIES[1].format(where=before_end)),
        _per_device(query, figure_query("sessions", where, ["device"])),
        _per_device(query, figure_query("energy_kwh", where, ["device"])),
        query(SEGMENTS_QUERY.format(where=where)),
    )
    first_ms: dict[str, int] = {}
    for tags, values in (*_rows(first_reading), *_rows(first_status)):
        first_ms[tags["device"]] = min(int(values[0]), first_ms.get(tags["device"], 2**63))

    names = {d.id: (d.kind.value, d.default_name) for d in config.devices}
    active: dict[str, float] = {}
    on: dict[str, float] = {}
    days: dict[str, set[date]] = {}
    busiest = [[0.0] * 24 for _ in range(7)]
    daily: dict[date, float] = {}
    for tags, (at_ms, seconds) in _rows(segments):
        device, hours = tags["device"], float(seconds) / 3600
        names.setdefault(device, (tags.get("kind", "other"), tags.get("name", device)))
        on[device] = on.get(device, 0.0) + hours
        if tags["state"] == MachineState.ACTIVE:
            active[device] = active.get(device, 0.0) + hours
            # A segment lies within one quarter hour, so within one local hour.
            local = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(zone)
            busiest[local.weekday()][local.hour] += hours
            daily[local.date()] = daily.get(local.date(), 0.0) + hours
            days.setdefault(device, set()).add(local.date())

    open_until = min(end_ms, now_ms)
    machines = []
    for device, (kind, name) in names.items():
        first = first_ms.get(device)
        if first is None or first >= end_ms:
            continue  # not there yet in this period
        open_ms = sum(b - a for a, b in open_ranges(site, max(start_ms, first), open_until))
        figures = Figures(
            machine_hours=active.get(device, 0.0),
            on_hours=on.get(device, 0.0),
            sessions=int(sessions.get(device, 0)),
            energy_kwh=energy.get(device, 0.0),
            open_hours=max(0, open_ms) / HOUR_MS,
            machines=1,
        )
        machines.append(
            MachineFigures(site.id, device, kind, name, figures, len(days.get(device, ())), first)
        )
    machines.sort(key=lambda m: m.device)
    previous = None
    earlier_period = period.previous()
    if with_previous and first_ms and min(first_ms.values()) <= earlier_period.start_ms:
        earlier = await site_statistics(
            query, config, earlier_period, now_ms, with_previous=False, simulated=simulated
        )
        previous = earlier.total
    return SiteStatistics(config, period, now_ms, machines, busiest, daily, previous, simulated)


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
