"""Each machine is judged on its own timeline: what it delivers late, or all at once, is
judged at the times it describes, whatever the other machines are doing meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from makerwatch.alerts.engine import AlertEngine, RelayOff, Transition
from makerwatch.alerts.notifier import Notification
from makerwatch.alerts.service import AlertService
from makerwatch.core.points import Point
from makerwatch.core.site_config import SiteConfig
from tests.alerts.test_engine import CLOSES, MIN, OPENS, transitions
from tests.alerts.test_service import Memory

STATIONS = ("solder-1", "solder-2", "solder-3")
HOUR = 60 * MIN
STEP = 5 * MIN  # the stations' telemetry period


def site() -> SiteConfig:
    weekdays = ("mon", "tue", "wed", "thu", "fri", "sat")
    return SiteConfig.model_validate({
        "site": {"id": "aktobe", "name": "Makerspace Aktobe",
                 "opening_hours": {d: ["10:00-19:00"] for d in weekdays}},
        "devices": [{"id": s, "name": s, "kind": "soldering_station", "telemetry_period_s": STEP // 1000}
                    for s in STATIONS],
        "alerts": {"repeat_every_min": 30, "rules": [
            {"rule": "left_on", "kinds": ["soldering_station"], "after_closing_grace_min": 15,
             "idle_longer_than_min": 45, "on_longer_than_min": 240},
            {"rule": "over_temperature", "kinds": ["soldering_station"], "above_c": 450},
        ]},
    })  # fmt: skip


@st.composite
def station_day(draw: st.DrawFn, device: str) -> list[Point]:
    """One station's readings over an afternoon and night: a reading every STEP, with the
    state changes a board would send, in its own time order."""
    start = CLOSES - draw(st.integers(0, 8)) * HOUR
    points, t, state = [], start, "off"
    for _ in range(draw(st.integers(1, 6))):
        stay_steps = draw(st.integers(1, 40))
        new = draw(st.sampled_from(["off", "idle", "active"]).filter(lambda s: s != state))  # noqa: B023
        points.append(Point("state", {"site": "aktobe", "device": device}, {"state": new}, t))
        hot = new != "off" and draw(st.booleans()) and draw(st.booleans())
        for step in range(stay_steps):
            temp = 460.0 if hot and step % 5 < 2 else 320.0
            fields = {"power_w": 0.5 if new == "off" else 20.0, "temp_c": temp}
            at = t + step * STEP
            points.append(Point("telemetry", {"site": "aktobe", "device": device}, fields, at))
        t += stay_steps * STEP
        state = new
    return points


def arrival_order(streams: dict[str, list[Point]], delays: dict[str, int]) -> list[Point]:
    """Every point, in the order they arrive when each machine's arrive `delays` late."""
    arrivals = sorted(
        (p.time_ms + delays[device], device, i)
        for device, stream in streams.items() for i, p in enumerate(stream)
    )  # fmt: skip
    return [streams[device][i] for _, device, i in arrivals]


def per_device(actions: Sequence[Transition | RelayOff]) -> dict[str, list[tuple[str, str, int]]]:
    found: dict[str, list[tuple[str, str, int]]] = {}
    for status, alert_id, at_ms in transitions(list(actions)):
        found.setdefault(alert_id.split("-", 1)[1], []).append((status, alert_id, at_ms))
    return found


streams_strategy = st.fixed_dictionaries({s: station_day(s) for s in STATIONS})
delays_strategy = st.fixed_dictionaries({s: st.integers(0, 3 * HOUR) for s in STATIONS})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams=streams_strategy, delays=delays_strategy)
def test_transitions_do_not_depend_on_when_other_machines_report(
    streams: dict[str, list[Point]], delays: dict[str, int]
) -> None:
    """Test that each machine's alert transitions, and their times, are the same whether
    its readings arrive live or hours behind the others'."""
    live, late = AlertEngine(site()), AlertEngine(site())
    live.start(), late.start()
    in_time = [
        a for p in arrival_order(streams, dict.fromkeys(STATIONS, 0)) for a in live.observe(p)
    ]
    delayed = [a for p in arrival_order(streams, delays) for a in late.observe(p)]
    assert per_device(delayed) == per_device(in_time)


class Told:
    """A Notifier that keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, notification: Notification) -> None:
        news = (
            ("repeated" if notification.coalesce_key else "fired")
            if notification.alert_id
            else "other"
        )
        if notification.body("en").startswith("Resolved"):
            news = "resolved"
        self.sent.append((notification.about or "", news))


async def told_for(
    streams: dict[str, list[Point]], delays: dict[str, int]
) -> list[tuple[str, str]]:
    """What staff are told when each point arrives, each machine's `delays` late, one
    point at a time on the wall clock."""
    now = [0]
    told = Told()
    service = AlertService(site(), Memory(), Memory(), told, wall=lambda: now[0])  # type: ignore[arg-type]
    await service.handle(service.ready_topic, b"1", retained=False)
    for point in arrival_order(streams, delays):
        now[0] = point.time_ms + delays[point.tags["device"]]
        await service.observe([point])
    now[0] += 10 * MIN
    await service.observe([])  # the last deliveries have settled
    return sorted(told.sent)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams=streams_strategy, delays=delays_strategy)
def test_what_staff_are_told_does_not_depend_on_how_late_a_machine_reports(
    streams: dict[str, list[Point]], delays: dict[str, int]
) -> None:
    """Test that a machine whose readings all arrive hours late (an hour behind the others,
    say) is told to staff exactly as one that reports live: the same notifications."""
    live = asyncio.run(told_for(streams, dict.fromkeys(STATIONS, 0)))
    late = asyncio.run(told_for(streams, delays))
    assert late == live


def test_an_hour_delivered_at_once_tells_only_what_still_holds() -> None:
    """Test a board's buffer delivered in one burst an hour late: a station idle then
    switched off inside it tells staff nothing; one still idle at the end tells once."""

    async def burst(still_on: bool) -> tuple[list[tuple[str, str]], list[Point]]:
        memory, told = Memory(), Told()
        wall = [OPENS + 8 * HOUR]
        service = AlertService(site(), memory, memory, told, wall=lambda: wall[0])  # type: ignore[arg-type]
        await service.handle(service.ready_topic, b"1", retained=False)
        tags = {"site": "aktobe", "device": "solder-1"}
        idle_at = OPENS + 5 * HOUR
        buffered = [Point("state", tags, {"state": "idle"}, idle_at)]
        buffered += [
            Point("telemetry", tags, {"power_w": 5.0}, idle_at + m * MIN) for m in range(60)
        ]
        if not still_on:
            buffered.insert(-5, Point("state", tags, {"state": "off"}, idle_at + 55 * MIN))
        for point in buffered:  # the whole buffer within one second
            wall[0] += 10
            await service.observe([point])
        wall[0] += 10 * MIN
        await service.observe([])
        return told.sent, memory.points

    told, history = asyncio.run(burst(still_on=False))
    assert told == [], "idle, then off, inside the buffer: history, not news"
    assert [(p.tags["status"], p.time_ms) for p in history] == [
        ("fired", OPENS + 5 * HOUR + 45 * MIN), ("resolved", OPENS + 5 * HOUR + 55 * MIN),
    ], "the history keeps each transition at its own time"  # fmt: skip
    told, _ = asyncio.run(burst(still_on=True))
    assert told == [("left_on-solder-1", "fired")], "told once, as it is now"
