"""Simulated boards: deterministic, realistic states per profile, scenarios that do what they say."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from makerwatch.cli import build_parser
from makerwatch.core.site_config import Device, MachineKind, load_site_config
from makerwatch.sim.board import SimulatedBoard
from makerwatch.sim.machine import SimulatedMachine, Visit
from makerwatch.sim.profiles import PROFILES
from makerwatch.sim.publisher import RecordingPublisher
from makerwatch.sim.runner import Simulation
from makerwatch.sim.scenarios import (
    SCENARIOS,
    build_boards,
    ends_in_time,
    incident_device,
    start_for,
    timeline,
)
from tests.support import ROOT

CONFIG = load_site_config(ROOT / "makerspace.example.yaml")
MONDAY_MS = int(
    datetime(2026, 11, 16, tzinfo=UTC).timestamp() * 1000
)  # local 05:00, before opening
HOUR_MS = 3_600_000


def run(scenario: str, seed: int, days: float | None = None) -> RecordingPublisher:
    publisher = RecordingPublisher()
    boards = build_boards(SCENARIOS[scenario], CONFIG, MONDAY_MS, seed)
    end = MONDAY_MS + int((days or SCENARIOS[scenario].days) * 24 * HOUR_MS)
    Simulation(boards, publisher, MONDAY_MS, end, speed=None, step_ms=60_000).run()
    return publisher


def states_of(publisher: RecordingPublisher, device: str) -> list[dict[str, object]]:
    return [s for s in publisher.tally.states if s["device"] == device]


def test_same_seed_gives_the_same_bytes_and_another_seed_differs() -> None:
    """Test that two runs with one seed publish identical messages, and a second seed does not."""
    first, again, other = (
        run("normal-week", 7, days=2),
        run("normal-week", 7, days=2),
        run("normal-week", 8, days=2),
    )
    assert first.sent == again.sent
    assert len(first.sent) > 1000
    assert first.sent != other.sent


def test_cli_offers_exactly_the_simulators_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `simulate scenario NAME` takes every scenario of the simulator and no other."""
    for name in SCENARIOS:
        assert build_parser().parse_args(["simulate", "scenario", name]).name == name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "scenario", "no-such-scenario"])
    assert "invalid choice" in capsys.readouterr().err


def expected_states(kind: MachineKind) -> set[str]:
    """The states a session of this kind must show, from its profile and default thresholds."""
    thresholds = Device(id="x", name="x", kind=kind).effective_thresholds
    profile = PROFILES[kind]
    levels = [lv for lv in (profile.warm_up, *profile.work, profile.cool_down) if lv is not None]
    return {
        "active" if sum(lv.power_w) / 2 > thresholds.active_above_w else "idle" for lv in levels
    } | {"off"}


@pytest.mark.parametrize("kind", list(MachineKind), ids=lambda k: k.value)
def test_each_profile_gives_the_states_it_should(kind: MachineKind) -> None:
    """Test that a three-hour session of each machine, through the firmware core, shows its profile's states."""
    device = Device(id="m-1", name="M", kind=kind)
    profile = PROFILES[kind]
    machine = SimulatedMachine(
        profile, [Visit(MONDAY_MS + HOUR_MS, MONDAY_MS + 4 * HOUR_MS)], random.Random(3)
    )
    board = SimulatedBoard("aktobe", device, machine, MONDAY_MS, sample_period_s=2)
    publisher = RecordingPublisher()
    Simulation(
        [board], publisher, MONDAY_MS, MONDAY_MS + 12 * HOUR_MS, speed=None, step_ms=60_000
    ).run()
    seen = {str(s["state"]) for s in publisher.tally.states} | {
        str(s.get("previous")) for s in publisher.tally.states
    }
    assert seen - {"None"} == expected_states(kind)


def test_printing_printer_reads_active_for_hours() -> None:
    """Test that a long print is one long active period."""
    device = Device(id="printer-1", name="P", kind=MachineKind.PRINTER_3D)
    machine = SimulatedMachine(
        PROFILES[MachineKind.PRINTER_3D],
        [Visit(MONDAY_MS, MONDAY_MS + 5 * HOUR_MS)],
        random.Random(1),
    )
    board = SimulatedBoard("aktobe", device, machine, MONDAY_MS, sample_period_s=2)
    publisher = RecordingPublisher()
    Simulation(
        [board], publisher, MONDAY_MS, MONDAY_MS + 8 * HOUR_MS, speed=None, step_ms=60_000
    ).run()
    active = [
        s["previous_duration_s"] for s in publisher.tally.states if s.get("previous") == "active"
    ]
    assert max(active) > 4 * 3600  # type: ignore[operator]


def test_soldering_station_left_on_overnight_reads_idle_for_hours() -> None:
    """Test the left-on-overnight scenario: the station idles in its stand all night, then is switched off."""
    publisher = run("left-on-overnight", 1)
    idle_periods = [s for s in states_of(publisher, "solder-1") if s.get("previous") == "idle"]
    longest = max(idle_periods, key=lambda s: float(s["previous_duration_s"]))  # type: ignore[arg-type]
    assert float(longest["previous_duration_s"]) > 10 * 3600  # type: ignore[arg-type]
    assert longest["state"] == "off"
    night = [json.loads(p) for t, p, _ in publisher.sent if "solder-1/telemetry" in t]
    readings = [r for body in night for r in body.get("readings", [body])]
    at_3am = [
        r for r in readings if MONDAY_MS + 22 * HOUR_MS <= r["ts"] * 1000 < MONDAY_MS + 23 * HOUR_MS
    ]
    assert at_3am
    assert all(2 < r["power_w"] < 7 for r in at_3am), "holding temperature in the stand"
    assert all(r["temp_c"] > 300 for r in at_3am), "the tip stays hot all night"


def test_board_offline_delivers_its_hour_as_batches_with_original_times() -> None:
    """Test that the board that lost Wi-Fi sends its readings from the outage later, in
    batches, in order, and its station's switch-off from idle during the outage."""
    publisher = run("board-offline", 1)
    boards = build_boards(SCENARIOS["board-offline"], CONFIG, MONDAY_MS, 1)
    board = next(b for b in boards if b.device == incident_device(CONFIG))
    (gone, back), device = board.offline[0], board.device.id
    bodies = [json.loads(p) for t, p, _ in publisher.sent if t.endswith(f"/{device}/telemetry")]
    readings = [r for body in bodies for r in body.get("readings", [body])]
    during = [r for r in readings if gone <= r["ts"] * 1000 < back]
    assert len(during) >= 3600 / 10 - 1, "an hour of 10 s readings"
    assert [r["seq"] for r in readings] == sorted(r["seq"] for r in readings)
    assert any("readings" in b and b["readings"][0]["ts"] * 1000 < back for b in bodies)
    switched = [s for s in states_of(publisher, device) if gone <= float(s["ts"]) * 1000 < back]  # type: ignore[arg-type]
    assert [(s["previous"], s["state"]) for s in switched] == [("idle", "off")], (
        "idle in its stand, switched off while the board was offline"
    )


def test_flaky_wifi_loses_nothing() -> None:
    """Test that short outages delay readings but every sequence number arrives, in order."""
    publisher = run("flaky-wifi", 1)
    for device in {t.split("/")[2] for t, _, _ in publisher.sent}:
        bodies = [json.loads(p) for t, p, _ in publisher.sent if t.endswith(f"/{device}/telemetry")]
        seqs = [r["seq"] for body in bodies for r in body.get("readings", [body])]
        assert seqs == list(range(len(seqs))), device


def test_accelerated_runs_never_reach_the_future() -> None:
    """Test that a scenario at speed X starts early enough to end by real now."""
    now = MONDAY_MS + 100 * 24 * HOUR_MS
    week = SCENARIOS["normal-week"]
    assert start_for(week, CONFIG, now, None) == now - 7 * 24 * HOUR_MS
    assert start_for(week, CONFIG, now, 1.0) == now
    start = start_for(week, CONFIG, now, 60.0)
    wall_s = 7 * 24 * 3600 / 60
    assert start + 7 * 24 * HOUR_MS <= now + wall_s * 1000


@pytest.mark.parametrize("name", ["board-offline", "left-on-overnight"])
@pytest.mark.parametrize("speed", [None, 60.0])
def test_an_incident_scenario_finds_a_start_at_any_quarter_hour_of_the_week(
    name: str, speed: float | None
) -> None:
    """Test that whenever it is run (a Monday afternoon, with a closed Sunday before the
    morning's opening), an incident scenario finds a start that ends by now and keeps
    its incident."""
    scenario = SCENARIOS[name]
    for quarter in range(7 * 24 * 4):
        now = MONDAY_MS + quarter * HOUR_MS // 4
        start = start_for(scenario, CONFIG, now, speed)
        end = timeline(scenario, CONFIG, start).end_ms
        assert ends_in_time(start, end, speed, now), datetime.fromtimestamp(now / 1000, UTC)
