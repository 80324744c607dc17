"""What usage means, defined once: the dashboards, the reports, the
simulator's ground truth and the tests all use these definitions.

- A **machine-hour** is one hour a machine spent in use: in state `active`, as its
  board measured it. Hours left on but idle (a soldering iron in its stand) are not
  machine-hours; they are what the "left on" alert is for.
- A **session** runs from a machine leaving `off` to its return to `off`.

Both are counted from completed state periods: each `state` message carries the
state it left and how long that lasted on the board's clock. Ingest stores each
completed on-period (idle or active) a second time as **usage segments**: the
period cut at every quarter hour (UTC), one `usage` point per piece with its
seconds. Every time zone's offset is a whole number of quarter hours, so a day,
week or month in any site's own time zone is a whole number of segments: figures
for any period are a plain sum, in Python and in InfluxQL alike
(makerwatch/core/statistics.py, docs/statistics.md).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from makerwatch.core.points import Point
from makerwatch.core.protocol import MachineState

__all__ = [
    "MACHINE_HOURS_QUERY",
    "ON_STATES",
    "SEGMENT_MS",
    "SESSIONS_QUERY",
    "USAGE_MEASUREMENT",
    "Session",
    "Usage",
    "energy_wh",
    "sessions_from",
    "usage_from_states",
    "usage_segments",
]

IN_USE_STATE = MachineState.ACTIVE
OFF_STATE = MachineState.OFF
ON_STATES = (MachineState.IDLE, MachineState.ACTIVE)
USAGE_MEASUREMENT = "usage"
SEGMENT_MS = 15 * 60_000

MACHINE_HOURS_QUERY = (
    "SELECT sum(previous_duration_s) / 3600 AS machine_hours FROM state "
    f"WHERE previous = '{IN_USE_STATE}' GROUP BY device"
)
SESSIONS_QUERY = f"SELECT count(previous_duration_s) AS sessions FROM state WHERE state = '{OFF_STATE}' GROUP BY device"


@dataclass
class Usage:
    machine_hours: float = 0.0
    sessions: int = 0


def usage_from_states(states: Iterable[Mapping[str, object]]) -> dict[str, Usage]:
    """Usage per device from `state` messages ({"device", "state", "previous", "previous_duration_s"})."""
    usage: dict[str, Usage] = defaultdict(Usage)
    for message in states:
        device, duration = str(message["device"]), message.get("previous_duration_s")
        if not isinstance(duration, int | float):
            continue
        if message.get("previous") == IN_USE_STATE:
            usage[device].machine_hours += duration / 3600
        if message["state"] == OFF_STATE:
            usage[device].sessions += 1
    return dict(usage)


@dataclass(frozen=True)
class Session:
    device: str
    start_ms: int
    end_ms: int
    energy_wh: float


def energy_wh(readings: list[tuple[int, float]]) -> float:
    """Energy of (time ms, power W) readings, oldest first: the trapezoidal integral,
    as InfluxQL's integral(power_w, 1h) computes it."""
    total = 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(readings):
        total += (p0 + p1) / 2 * (t1 - t0) / 3_600_000
    return total


def sessions_from(
    states: Iterable[Mapping[str, object]], readings: Mapping[str, list[tuple[int, float]]]
) -> list[Session]:
    """Completed sessions from state messages ({"device", "state", "previous", "ts"}) and
    each device's readings, oldest first."""
    result, started = [], {}
    for message in states:
        device, at_ms = str(message["device"]), round(float(message["ts"]) * 1000)  # type: ignore[arg-type]
        if message.get("previous") == OFF_STATE:
            started[device] = at_ms
        elif message["state"] == OFF_STATE and device in started:
            start = started.pop(device)
            inside = [r for r in readings.get(device, []) if start <= r[0] <= at_ms]
            result.append(Session(device, start, at_ms, energy_wh(inside)))
    return result


def usage_segments(state: Point, not_before_ms: int) -> list[Point]:
    """The on-period a `state` point closes, as `usage` points cut at each quarter hour.

    Each piece carries the state point's tags plus `state` (idle or active) and its
    `seconds`; its time is where it starts. A piece after the first starts on a
    quarter hour, so a redelivered or repeated claim overwrites the same points
    instead of adding to them. A period is not taken back further than
    `not_before_ms` (ingest's oldest accepted reading), which also bounds the
    points one message can make.
    """
    previous, duration_s = state.fields.get("previous"), state.fields.get("previous_duration_s")
    if previous not in ON_STATES or not isinstance(duration_s, int | float):
        return []
    end_ms = state.time_ms
    start_ms = max(end_ms - round(duration_s * 1000), not_before_ms)
    tags = {**state.tags, "state": str(previous)}
    segments = []
    while start_ms < end_ms:
        edge = min(end_ms, (start_ms // SEGMENT_MS + 1) * SEGMENT_MS)
        segments.append(
            Point(USAGE_MEASUREMENT, tags, {"seconds": (edge - start_ms) / 1000}, start_ms)
        )
        start_ms = edge
    return segments
