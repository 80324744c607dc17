"""Named, deterministic scenarios: which sessions, outages and incidents a run contains."""

from __future__ import annotations

from dataclasses import dataclass

from makerwatch.core.opening_hours import open_ranges
from makerwatch.core.site_config import Device, MachineKind, SiteConfig
from makerwatch.sim.board import SimulatedBoard, board_rng
from makerwatch.sim.machine import SimulatedMachine, Visit
from makerwatch.sim.profiles import PROFILES
from makerwatch.sim.schedule import visits

__all__ = ["SCENARIOS", "Scenario", "build_boards", "scenario_named", "start_for"]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


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
            "a soldering station stays on after closing until the next morning",
            days=2,
            left_on_overnight=True,
        ),
        Scenario(
            "board-offline",
            "one board loses Wi-Fi for an hour in the afternoon, then delivers its buffer",
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


def start_for(scenario: Scenario, now_ms: int, speed: float | None) -> int:
    """The start that makes a run at `speed` end at real `now` at the latest (no future timestamps)."""
    if scenario.always_open:
        return now_ms
    fraction = 1.0 if speed is None else max(0.0, 1 - 1 / speed)
    return now_ms - int(scenario.days * DAY_MS * fraction)


def _left_on(config: SiteConfig, plan: list[Visit], start_ms: int) -> list[Visit]:
    """The first day's last session is never switched off: on until the next opening + 30 min."""
    first_day = open_ranges(config.site, start_ms, start_ms + DAY_MS)
    later = open_ranges(config.site, start_ms + DAY_MS // 2, start_ms + 3 * DAY_MS)
    if not first_day or len(later) < 2:
        return plan
    closes = first_day[-1][1]
    next_open = next(a for a, _ in later if a > closes)
    kept = [s for s in plan if s.end_ms <= closes - 2 * HOUR_MS]
    evening = Visit(
        closes - 2 * HOUR_MS, next_open + HOUR_MS // 2, left_on_from_ms=closes - HOUR_MS // 2
    )
    return [*kept, evening] + [s for s in plan if s.start_ms >= evening.end_ms]


def _outages(config: SiteConfig, scenario: Scenario, device: Device, index: int, start_ms: int,
             end_ms: int, seed: int) -> list[tuple[int, int]]:  # fmt: skip
    if scenario.board_offline and index == 0:
        opens, closes = open_ranges(config.site, start_ms, end_ms)[0]
        middle = (opens + closes) // 2
        return [(middle, middle + HOUR_MS)]
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
) -> list[SimulatedBoard]:
    """One simulated board per device of the site, scheduled for the scenario from start_ms."""
    end_ms = end_ms or start_ms + int(scenario.days * DAY_MS)
    # An always-open space is already busy when the run starts.
    plan_from = start_ms - HOUR_MS if scenario.always_open else start_ms
    boards = []
    left_on_done = False
    for index, device in enumerate(config.devices):
        profile = PROFILES[device.kind]
        plan = visits(
            config.site,
            profile,
            plan_from,
            end_ms,
            board_rng(seed, device.id, "schedule"),
            always_open=scenario.always_open,
            minutes_scale=scenario.minutes_scale,
            arrivals_scale=scenario.arrivals_scale,
        )
        if (
            scenario.left_on_overnight
            and device.kind is MachineKind.SOLDERING_STATION
            and not left_on_done
        ):
            plan, left_on_done = _left_on(config, plan, start_ms), True
        machine = SimulatedMachine(profile, plan, board_rng(seed, device.id, "power"))
        board = SimulatedBoard(
            config.site.id, device, machine, start_ms, sample_period_s, telemetry_period_s
        )
        board.offline = _outages(config, scenario, device, index, start_ms, end_ms, seed)
        boards.append(board)
    return boards


def scenario_named(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None
