"""Named, deterministic scenarios: which sessions, outages and incidents a run contains."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from makerwatch.core.errors import ConfigError
from makerwatch.core.opening_hours import open_ranges
from makerwatch.core.site_config import Device, MachineKind, SiteConfig
from makerwatch.core.units import DAY_MS, HOUR_MS, MINUTE_MS
from makerwatch.sim.board import SimulatedBoard, board_rng
from makerwatch.sim.machine import SimulatedMachine, Visit
from makerwatch.sim.plug import SimulatedPlug
from makerwatch.sim.profiles import PROFILES
from makerwatch.sim.schedule import visits

__all__ = [
    "SCENARIOS", "Scenario", "Timeline", "build_boards", "ends_in_time", "incident_device",
    "scenario_named", "start_for", "timeline",
]  # fmt: skip

LOOK_AHEAD_MS = 14 * DAY_MS  # opening hours repeat weekly: two weeks hold any next opening


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    days: float
    always_open: bool = False  # ignore opening hours (the demo space never closes)
    minutes_scale: float = 1.0  # shorter sessions for a lively demo
    arrivals_scale: float = 1.0  # more people per hour
    left_on_overnight: bool = False
    board_offline: bool = False
    flaky_wifi: bool = False


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("normal-week", "a week of ordinary use in the site's opening hours", days=7),
        Scenario(
            "left-on-overnight",
            "a soldering station stays on after closing until the next opening",
            days=2,
            left_on_overnight=True,
        ),
        Scenario(
            "board-offline",
            "one board loses Wi-Fi for an hour in the first opening, then delivers its buffer",
            days=1,
            board_offline=True,
        ),
        Scenario(
            "flaky-wifi",
            "every board drops off Wi-Fi for 10 s to 3 min about twice an hour",
            days=1,
            flaky_wifi=True,
        ),
        Scenario(
            "demo",
            "always open, short sessions: something changes every few minutes (makerwatch up)",
            days=365,
            always_open=True,
            minutes_scale=0.1,
            arrivals_scale=8,
        ),
    )
}


def _late_ms(start_ms: int, end_ms: int, speed: float | None, now_ms: int) -> float:
    """How far past real `now` a run from start_ms to end_ms at `speed` would publish: at
    speed X the simulated clock gains X - 1 seconds a second on real time."""
    if speed is None:
        return end_ms - now_ms
    return end_ms - (end_ms - start_ms) / speed - now_ms


def ends_in_time(start_ms: int, end_ms: int, speed: float | None, now_ms: int) -> bool:
    """Does the run never publish a timestamp from the future?"""
    return _late_ms(start_ms, end_ms, speed, now_ms) <= 0


def start_for(scenario: Scenario, config: SiteConfig, now_ms: int, speed: float | None) -> int:
    """The start that makes a run at `speed` end at real `now` at the latest (no future timestamps)."""
    if scenario.always_open:
        return now_ms
    fraction = 1.0 if speed is None else max(0.0, 1 - 1 / speed)
    start_ms = now_ms - int(scenario.days * DAY_MS * fraction)
    # A run lasts until its incident is over, which depends on the opening hours after
    # its start: move the start back until the run ends in time. Stepping back may keep
    # the same incident (a closed weekend lies before it), so each step is at least an
    # hour, and the search stops where the look-ahead would no longer reach now.
    earliest_ms = start_ms - LOOK_AHEAD_MS
    while start_ms >= earliest_ms:
        late_ms = _late_ms(start_ms, timeline(scenario, config, start_ms).end_ms, speed, now_ms)
        if late_ms <= 0:
            return start_ms
        start_ms -= max(int(late_ms) + 1, HOUR_MS)
    raise ConfigError(
        f"scenario {scenario.name!r}: no start found that ends by now at this speed; give --start"
    )


@dataclass(frozen=True)
class Timeline:
    """When a run of a scenario from a given start ends, and when its incident happens."""

    end_ms: int
    outage: tuple[int, int] | None = None  # board-offline: the hour without Wi-Fi
    session: Visit | None = None  # the incident machine's session (see incident_device)


def _open_periods(config: SiteConfig, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """The open periods in [start_ms, end_ms), clipped to it, with the second at midnight
    that `24:00` leaves (it closes at 23:59:59) joined up: a site open around the clock
    never closes."""
    periods: list[tuple[int, int]] = []
    for opens, closes in open_ranges(config.site, start_ms, end_ms):
        if periods and opens - periods[-1][1] < MINUTE_MS:
            periods[-1] = (periods[-1][0], closes)
        else:
            periods.append((opens, closes))
    return periods


def timeline(scenario: Scenario, config: SiteConfig, start_ms: int) -> Timeline:
    """Place the scenario's incident in the site's opening hours after start_ms, whatever the
    start (a Sunday, before opening, midday) and the hours (around the clock, short days), or
    say in one line why it cannot run; the run lasts `days`, or longer if its incident needs it."""
    end_ms = start_ms + int(scenario.days * DAY_MS)
    site = config.site.id
    when = _local(config, start_ms)
    periods = _open_periods(config, start_ms, start_ms + LOOK_AHEAD_MS)
    if scenario.board_offline:
        # The middle of the first opening (or, open around the clock, of its first day) that
        # lasts an hour: the board is offline while the machines are in use.
        usable = [(a, min(b, a + DAY_MS)) for a, b in periods if b - a >= HOUR_MS]
        if not usable:
            raise ConfigError(
                f"scenario {scenario.name!r}: site {site!r} is not open for an hour in the two "
                f"weeks from {when} (opening_hours), and its outage belongs in opening hours"
            )
        opens, closes = usable[0]
        gone = (opens + closes) // 2
        # In use, then idle in its stand, then switched off while the board is offline: what
        # its buffer delivers must be judged by when it happened, not when it arrives.
        session = Visit(
            max(opens, gone - 40 * MINUTE_MS),
            gone + 30 * MINUTE_MS,
            left_on_from_ms=gone - 10 * MINUTE_MS,
        )
        outage = (gone, gone + HOUR_MS)
        return Timeline(max(end_ms, outage[1] + HOUR_MS), outage=outage, session=session)
    if scenario.left_on_overnight:
        if not any(d.kind is MachineKind.SOLDERING_STATION for d in config.devices):
            raise ConfigError(
                f"scenario {scenario.name!r}: site {site!r} has no soldering station to leave on"
            )
        # The first closing for the night (the next opening is on a later day: not a lunch
        # break) after at least an hour of opening; a closing where the look-ahead stops is none.
        overnight = [
            (a, b, next_open)
            for (a, b), (next_open, _) in itertools.pairwise(periods)
            if b - a >= HOUR_MS and _local_day(config, next_open) != _local_day(config, b)
        ]
        if not overnight:
            state = "never closes for the night" if periods else "is never open"
            raise ConfigError(
                f"scenario {scenario.name!r}: site {site!r} {state} in the two weeks from "
                f"{when} (opening_hours), so nothing can be left on overnight"
            )
        opens, closes, next_open = overnight[0]
        evening = Visit(
            max(opens, closes - 2 * HOUR_MS),
            next_open + HOUR_MS // 2,  # switched off half an hour after the next opening
            left_on_from_ms=closes - HOUR_MS // 2,
        )
        return Timeline(max(end_ms, evening.end_ms + HOUR_MS), session=evening)
    return Timeline(end_ms)


def _local(config: SiteConfig, t_ms: int) -> str:
    zone = ZoneInfo(config.site.timezone)
    return datetime.fromtimestamp(t_ms / 1000, zone).strftime("%Y-%m-%d %H:%M (%a)")


def _local_day(config: SiteConfig, t_ms: int) -> date:
    return datetime.fromtimestamp(t_ms / 1000, ZoneInfo(config.site.timezone)).date()


def incident_device(config: SiteConfig) -> Device:
    """The machine a scenario's incident happens to: the first soldering station (the iron
    left on, the station whose board goes offline), else the first machine."""
    stations = [d for d in config.devices if d.kind is MachineKind.SOLDERING_STATION]
    return (stations or config.devices)[0]


def _with_session(plan: list[Visit], session: Visit, quiet_until_ms: int) -> list[Visit]:
    """The incident's session replaces the visits it overlaps, and nobody uses the machine
    until quiet_until_ms (while its board is offline the one change is the switch-off)."""
    after = max(session.end_ms, quiet_until_ms)
    before = [s for s in plan if s.end_ms <= session.start_ms]
    return [*before, session, *(s for s in plan if s.start_ms >= after)]


def _outages(scenario: Scenario, line: Timeline, device: Device, incident: bool, start_ms: int,
             end_ms: int, seed: int) -> list[tuple[int, int]]:  # fmt: skip
    if line.outage is not None and incident:
        return [line.outage]
    if scenario.flaky_wifi:
        rng = board_rng(seed, device.id, "wifi")
        windows, t = [], start_ms
        while t < end_ms:
            t += int(rng.expovariate(2 / HOUR_MS))
            windows.append((t, t + int(rng.uniform(10_000, 180_000))))
        return windows
    return []


def build_boards(
    scenario: Scenario,
    config: SiteConfig,
    start_ms: int,
    seed: int,
    *,
    end_ms: int | None = None,
    sample_period_s: float = 2.0,
    telemetry_period_s: float | None = None,
    with_plugs: bool = False,
) -> list[SimulatedBoard | SimulatedPlug]:
    """One simulated board per device of the site (`with_plugs`: a plug device's plug, in
    its firmware's format; else plug devices are left out), scheduled for the scenario from start_ms
    (until the scenario's timeline ends, or end_ms)."""
    line = timeline(scenario, config, start_ms)
    end_ms = end_ms or line.end_ms
    # An always-open space is already busy when the run starts.
    plan_from = start_ms - HOUR_MS if scenario.always_open else start_ms
    boards: list[SimulatedBoard | SimulatedPlug] = []
    incident = incident_device(config) if config.devices else None
    for device in config.devices:
        profile = PROFILES[device.kind]
        plan: Iterable[Visit] = visits(
            config.site,
            profile,
            plan_from,
            end_ms,
            board_rng(seed, device.id, "schedule"),
            always_open=scenario.always_open,
            minutes_scale=scenario.minutes_scale,
            arrivals_scale=scenario.arrivals_scale,
        )
        if line.session is not None and device is incident:
            quiet_until_ms = line.outage[1] if line.outage else 0
            plan = _with_session(list(plan), line.session, quiet_until_ms)
        machine = SimulatedMachine(profile, plan, board_rng(seed, device.id, "power"))
        if device.source is not None:
            if with_plugs:
                boards.append(SimulatedPlug(device, machine, start_ms, config.site.timezone))
            continue
        board = SimulatedBoard(
            config.site.id, device, machine, start_ms, sample_period_s, telemetry_period_s
        )
        board.offline = _outages(scenario, line, device, device is incident, start_ms, end_ms, seed)
        boards.append(board)
    return boards


def scenario_named(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None
