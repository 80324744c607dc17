"""Simulated members tapping in, through the real broker, ingest and InfluxDB: the
sponsor people figures add up to the simulator's ground truth, with every count of
1 or 2 shown as "fewer than 3"."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from makerwatch.core.figures import every_site_figure, shown
from makerwatch.core.figures.people import HOURS_BANDS
from makerwatch.core.protocol import AccessMode
from makerwatch.core.site_config import SiteConfig
from makerwatch.core.site_figures import ALL, band_label
from makerwatch.core.statistics import Statistics, statistics
from makerwatch.dashboards.build import every_dashboard
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from makerwatch.report import document
from makerwatch.sim.members import MemberTaps, TappingPublisher, ground_truth, simulated_members
from makerwatch.sim.runner import Simulation
from makerwatch.sim.scenarios import SCENARIOS, build_boards
from tests.dashboards.test_dashboards import expand
from tests.members.readers import with_reader
from tests.support import (
    ROOT,
    RunningIngest,
    make_config,
    publish,
    start_ingest,
    stored,
    wait_until,
)

SECRET = "sim-card-secret-0123456789abcdef-0123"
OPEN = {day: ["09:00-21:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
DAY_MS = 86_400_000


def run_backfill(
    config: SiteConfig, port: int, taps: MemberTaps, start_ms: int, end_ms: int
) -> int:
    boards = build_boards(SCENARIOS["normal-week"], config, start_ms, 7, end_ms=end_ms,
                          sample_period_s=2.0, telemetry_period_s=60)  # fmt: skip
    publisher = TappingPublisher("127.0.0.1", port, f"sim-members-{config.site.id}", taps)
    try:
        summary = Simulation(boards, publisher, start_ms, end_ms, speed=None, step_ms=600_000).run()
    finally:
        publisher.close()
    return summary.ended_ms


@pytest.fixture
async def card_site(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> AsyncIterator[tuple[SiteConfig, RunningIngest]]:
    """A site whose soldering station logs cards and whose printer enforces them, with its HTTP API."""
    config = make_config(mosquitto.port, influxdb.url, http_port=free_port())
    devices = [with_reader(config.devices[0], AccessMode.LOG),
               with_reader(config.devices[1], AccessMode.ENFORCE)]  # fmt: skip
    site = config.site.model_copy(update={"opening_hours": OPEN})
    members = config.members.model_copy(update={"store": str(tmp_path / "members.sqlite")})
    config = config.model_copy(update={"devices": devices, "site": site, "members": members})
    running = await start_ingest(config)
    yield config, running
    await running.shutdown()


async def test_people_figures_add_up_to_the_simulated_members(
    card_site: tuple[SiteConfig, RunningIngest], mosquitto: EmbeddedMosquitto
) -> None:
    """Test that the statistics' site figures (members served, new members, members per
    kind, hours per member and refused taps) equal the simulator's ground truth, and that
    the report's JSON and /sponsors show them with counts under 3 suppressed."""
    config, _ = card_site
    zone = ZoneInfo(config.site.timezone)
    today = datetime.now(zone).date()
    start_ms = int(
        datetime.combine(today - timedelta(days=6), datetime.min.time(), zone).timestamp() * 1000
    )
    end_ms = int(datetime.now(zone).timestamp() * 1000)
    members = simulated_members(
        SECRET, {"soldering_station": 7, "printer_3d": 2}, untrained=4, seed=7
    )
    taps = MemberTaps(config, members, seed=7)
    ended_ms = await asyncio.to_thread(run_backfill, config, mosquitto.port, taps, start_ms, end_ms)
    # A reading after the last switch-off closes each machine's last session.
    await publish(mosquitto.port, [
        (f"makerspace/{config.site.id}/{d.id}/telemetry",
         json.dumps({"v": 1, "ts": ended_ms / 1000 + 1, "seq": 10**6, "power_w": 0.0, "sim": True}))
        for d in config.devices
    ])  # fmt: skip
    closed = [s for s in taps.sessions if s.end_ms is not None]
    assert len(closed) > 10, "the week had sessions"

    async with InfluxClient(config.influxdb) as influx:

        async def sessions_written() -> bool:
            rows = await stored(influx, "SELECT count(duration_s) FROM session")
            return bool(rows) and rows[0]["count"] == len(closed)

        await wait_until(sessions_written, f"{len(closed)} sessions written", within_s=120)

        first, last = today - timedelta(days=3), today - timedelta(days=1)
        stats = await statistics(influx.query, [config], f"{first}..{last}", end_ms, simulated=True)
        period = stats.sites[0].period
        truth = ground_truth(taps, period.start_ms, period.end_ms)
        got = stats.people
        assert got is not None, "a site whose devices read cards has people figures"

        assert got["members"].get(ALL, 0) == len(truth.served) >= 3
        assert got["new_members"].get(ALL, 0) == len(truth.new)
        assert got["refused_taps"].get(ALL, 0) == truth.refused_taps
        assert got["members_by_kind"] == {kind: len(keys) for kind, keys in truth.per_kind.items()}
        bands = [0] * len(HOURS_BANDS)
        for hours in truth.hours.values():
            bands[sum(hours >= low for low, _ in HOURS_BANDS) - 1] += 1  # the last band it reaches
        assert got["hours_bands"] == {band_label(i): n for i, n in enumerate(bands)}
        assert 0 < len(truth.new) < len(truth.served), "some served members had come before"
        # Printers have two trained members: never shown as a number.
        shown = json.loads(document.as_json(stats))["people"]
        assert shown["members_by_kind"]["printer_3d"] == {"count": None, "suppressed": True}
        assert shown["members"] == {"count": len(truth.served), "suppressed": False}
        assert "fewer than 3" in document.html(stats, "en")
        await _same_on_the_sponsor_dashboard(influx, config, stats)
        # Real figures leave the simulated taps out.
        real = await statistics(influx.query, [config], f"{first}..{last}", end_ms)
        assert real.people is not None
        assert real.people["members"].get(ALL, 0) == 0
        # /sponsors shows the same section, in the reader's language.
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{config.ingest.http_port}", timeout=120
        ) as http:
            page = await http.get(
                "/sponsors", params={"period": f"{first}..{last}", "simulated": "1", "lang": "ru"}
            )
        assert page.status_code == 200
        assert "Обслужено участников" in page.text
        assert "меньше 3" in page.text


async def _same_on_the_sponsor_dashboard(
    influx: InfluxClient, config: SiteConfig, stats: Statistics
) -> None:
    """Each people panel of the sponsor dashboard, its query run on the report's period,
    answers the report's numbers: those shown, the rest (under 3) left out by InfluxDB."""
    assert stats.people is not None
    period = stats.sites[0].period
    board = every_dashboard([config])["sponsors-kk.json"]
    chosen = {"site": [config.site.id], "exclude": ["none"]}
    for figure in every_site_figure():
        panels = [p for p in board["panels"] if p["title"] == figure.names["kk"]]
        assert len(panels) == figure.in_grafana, figure.key
        if not panels:
            continue
        query = expand(panels[0]["targets"][0]["query"], chosen, period.start_ms, period.end_ms - 1)
        answered = {
            row.get(figure.group or "", ALL): row[figure.key] for row in await stored(influx, query)
        }
        counted = stats.people[figure.key]
        assert answered == {g: n for g, n in counted.items() if shown(n) is not None and n}, (
            figure.key
        )
        assert any(shown(n) is None for n in counted.values()) or figure.group is None


async def test_simulate_backfill_with_members_taps_their_cards(
    card_site: tuple[SiteConfig, RunningIngest], mosquitto: EmbeddedMosquitto, tmp_path: Path
) -> None:
    """Test that `makerwatch simulate backfill --members N` taps cards at the machines with a
    reader, and every tap it reports is stored, as simulated."""
    config, _ = card_site
    site_file = tmp_path / "site.yaml"
    site_file.write_text(json.dumps({  # JSON is YAML
        "site": {"id": config.site.id, "name": "Test space", "opening_hours": OPEN},
        "devices": [{"id": d.id, "name": d.default_name, "kind": d.kind.value, "access": d.access.value,
                     "board": d.board}
                    for d in config.devices],
    }), encoding="utf-8")  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "makerwatch.cli", "simulate", "backfill", "2d", "--members", "3",
         "--config", str(site_file), "--mqtt", f"127.0.0.1:{mosquitto.port}", "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = re.search(r"(\d+) simulated members tapped (\d+) times", done.stdout)
    assert said is not None, done.stdout
    assert int(said[1]) == 3 * 2 + 3  # 3 trained on each of the two kinds, 3 untrained
    async with InfluxClient(config.influxdb) as influx:

        async def all_taps_stored() -> bool:
            rows = await stored(influx, "SELECT count(\"key\") FROM tap WHERE source = 'sim'")
            return bool(rows) and rows[0]["count"] == int(said[2])

        await wait_until(all_taps_stored, f"{said[2]} simulated taps stored", within_s=60)
    assert int(said[2]) > 0
