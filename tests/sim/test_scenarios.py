"""Every scenario from any start and for any opening hours: its incident where it belongs, or
one line saying why it cannot run; each run through the real broker, ingest and InfluxDB
ends with its boards offline, as real boards' would.

The pipeline runs use the suite's per-test broker and ingest rather than one per module:
one ingest serves one site, and runs of one site over overlapping past weeks would mix in
its database, so the exact counts below could not be checked. The broker starts in
milliseconds; the runs themselves, at full speed, are what takes time."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from makerwatch.core.errors import ConfigError
from makerwatch.core.opening_hours import WEEKDAYS, is_open, open_ranges
from makerwatch.core.site_config import SiteConfig, load_site_config
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedMosquitto
from makerwatch.sim.commands import parse_start, run_scenario
from makerwatch.sim.scenarios import SCENARIOS, Scenario, Timeline, timeline
from tests.sim.ended import assert_boards_ended_offline, wait_for_statuses
from tests.support import ROOT, RunningIngest, count_points, start_ingest, wait_until

EXAMPLE = load_site_config(ROOT / "makerspace.example.yaml")
ZONE = ZoneInfo(EXAMPLE.site.timezone)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DEMO_RUN_MS = 6 * HOUR_MS  # the demo lasts a year; a test runs a few hours of it

HOURS = {
    "example": EXAMPLE.site.opening_hours,
    "around the clock": {day: ["00:00-24:00"] for day in WEEKDAYS},
    "closed": {},
    "lunch break": {day: ["09:00-13:00", "14:00-18:00"] for day in WEEKDAYS[:5]},
}
CANNOT_RUN = {
    ("around the clock", "left-on-overnight"),
    ("closed", "left-on-overnight"),
    ("closed", "board-offline"),
}
STARTS = {  # (weekday, hour, minute), local time
    "sunday": (6, 10, 0),
    "weekday morning": (0, 6, 0),  # before opening
    "weekday midday": (2, 12, 0),
    "saturday after closing": (5, 18, 30),
}


def local_start(start: str, before_ms: float) -> int:
    """The latest local time of `start`'s weekday and hour at or before before_ms."""
    weekday, hour, minute = STARTS[start]
    t = datetime.fromtimestamp(before_ms / 1000, ZONE).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )
    while t.weekday() != weekday or t.timestamp() * 1000 > before_ms:
        t -= timedelta(days=1)
    return int(t.timestamp() * 1000)


def placed(scenario: Scenario, config: SiteConfig, start_ms: int) -> Timeline | str:
    """The scenario's timeline from start_ms, or the one line saying why it cannot run."""
    try:
        return timeline(scenario, config, start_ms)
    except ConfigError as exc:
        return str(exc)


def with_hours(config: SiteConfig, hours: dict[str, list[str]]) -> SiteConfig:
    return config.model_copy(
        update={"site": config.site.model_copy(update={"opening_hours": hours})}
    )


@pytest.mark.parametrize("start", sorted(STARTS))
@pytest.mark.parametrize("hours", sorted(HOURS))
def test_each_scenario_places_its_incident_in_opening_hours_or_says_why_not(
    hours: str, start: str
) -> None:
    """Test that from any start, for any opening hours, each scenario puts its outage in an
    opening and leaves the iron on over a night's closing until the next opening, or refuses
    in one line naming the site, and only where it cannot run."""
    config = with_hours(EXAMPLE, HOURS[hours])
    site = config.site
    start_ms = local_start(start, int(datetime(2026, 11, 30, tzinfo=ZONE).timestamp() * 1000))
    for name, scenario in SCENARIOS.items():
        line = placed(scenario, config, start_ms)
        if isinstance(line, str):
            assert (hours, name) in CANNOT_RUN, f"{name}: {line}"
            assert "\n" not in line
            assert repr(site.id) in line
            continue
        assert (hours, name) not in CANNOT_RUN, name
        assert line.end_ms >= start_ms + scenario.days * DAY_MS
        if scenario.board_offline:
            assert line.outage is not None
            gone, back = line.outage
            assert start_ms <= gone
            assert is_open(site, gone), "offline while the space is open"
            assert back < line.end_ms, "the run goes on to deliver the buffer"
            session = line.session
            assert session is not None
            assert session.left_on_from_ms is not None
            assert session.start_ms < session.left_on_from_ms < gone, "idle when it goes"
            assert gone < session.end_ms < back, "switched off while the board is offline"
        if scenario.left_on_overnight:
            evening = line.session
            assert evening is not None
            assert evening.left_on_from_ms is not None
            assert start_ms <= evening.start_ms
            assert is_open(site, evening.left_on_from_ms)
            periods = open_ranges(site, evening.left_on_from_ms, evening.end_ms + 1)
            closes, reopens = periods[0][1], periods[-1][0]
            night = datetime.fromtimestamp(reopens / 1000, ZONE).date()
            assert night > datetime.fromtimestamp(closes / 1000, ZONE).date(), "over a night"
            assert is_open(site, evening.end_ms), "switched off after the next opening"
            assert evening.end_ms <= line.end_ms


PIPELINE_STARTS = ("sunday", "weekday morning", "weekday midday")


@pytest.mark.parametrize("start", PIPELINE_STARTS)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_every_scenario_runs_through_the_pipeline_and_ends_its_boards_offline(
    name: str,
    start: str,
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
) -> None:
    """Test that each scenario, started on a Sunday, a weekday before opening and a weekday
    at midday, at full speed, stores every reading and state it sent, and ends with every
    board's retained status offline, stamped when it stopped, and device_status offline."""
    config = with_hours(site_config, EXAMPLE.site.opening_hours)
    start_ms = local_start(start, time.time() * 1000 - 9 * DAY_MS)  # a week and more ago
    end_ms = start_ms + DEMO_RUN_MS if name == "demo" else None
    summary = await asyncio.to_thread(
        run_scenario, config, name, None, 1, "127.0.0.1", mosquitto.port,
        start_ms=start_ms, end_ms=end_ms,
    )  # fmt: skip
    readings = sum(summary.tally.readings.values())
    assert readings > 0
    assert summary.ended_ms > start_ms

    async def all_stored() -> bool:
        return await count_points(influx) == readings and await count_points(
            influx, "state", "state"
        ) == len(summary.tally.states)

    await wait_until(all_stored, f"{readings} readings and every state stored", within_s=60)
    await assert_boards_ended_offline(mosquitto.port, config, influx, summary.ended_ms)


def test_the_reported_crash_board_offline_at_full_speed_on_the_example_site(
    mosquitto: EmbeddedMosquitto,
) -> None:
    """Test the command that ended in `IndexError`: board-offline at full speed on the
    example site, whatever day it is now, runs to its summary."""
    result = simulate(["board-offline", "--config", str(ROOT / "makerspace.example.yaml")],
                      mosquitto)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "solder-1" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_scenario_that_cannot_run_or_would_reach_the_future_says_so_in_one_line(
    mosquitto: EmbeddedMosquitto, tmp_path: Path
) -> None:
    """Test that left-on-overnight on a site open around the clock, and a start in the
    future, are refused in one line, without a traceback."""
    site_file = tmp_path / "site.yaml"
    always = with_hours(EXAMPLE, HOURS["around the clock"])
    site_file.write_text(yaml.safe_dump(always.model_dump(mode="json", exclude_none=True)))
    result = simulate(["left-on-overnight", "--config", str(site_file)], mosquitto)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "never closes for the night" in result.stderr
    tomorrow = (datetime.now(ZONE) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    result = simulate(["normal-week", "--config", str(site_file), "--start", tomorrow], mosquitto)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "future" in result.stderr
    result = simulate(["normal-week", "--config", str(site_file), "--start", "sunday"], mosquitto)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "--start 'sunday': expected a date and time" in result.stderr


def test_start_is_read_in_the_sites_time_zone_unless_it_gives_an_offset() -> None:
    """Test that `--start` without an offset is the site's local time, and with one is that."""
    sunday_10 = datetime(2026, 12, 6, 10, 0, tzinfo=ZONE)
    assert parse_start("2026-12-06T10:00", EXAMPLE) == sunday_10.timestamp() * 1000
    assert parse_start("2026-12-06T05:00+00:00", EXAMPLE) == sunday_10.timestamp() * 1000


def simulate(
    arguments: list[str], mosquitto: EmbeddedMosquitto
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "makerwatch.cli", "simulate", "scenario", *arguments,
               "--mqtt", f"127.0.0.1:{mosquitto.port}", "--speed", "max"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)


async def test_a_killed_simulation_leaves_its_boards_offline_by_their_last_will(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, tmp_path: Path
) -> None:
    """Test that when `simulate` dies without a word (SIGKILL), the broker publishes each
    board's last will: its retained status says offline, and ingest stores that."""
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(site_config.model_dump(mode="json", exclude_none=True)))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "makerwatch.cli", "simulate", "scenario", "demo",
        "--config", str(site_file), "--mqtt", f"127.0.0.1:{mosquitto.port}",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    ingest = await start_ingest(site_config)
    try:
        await wait_for_statuses(mosquitto.port, site_config, online=True)
        process.kill()  # SIGKILL: no goodbye, the broker's last wills speak for the boards
        await process.wait()
        async with InfluxClient(site_config.influxdb) as influx:
            await wait_for_statuses(mosquitto.port, site_config, online=False)
            await assert_boards_ended_offline(mosquitto.port, site_config, influx, None)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await ingest.shutdown()
