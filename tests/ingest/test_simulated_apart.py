"""Simulated data is kept apart from a site's real data, left out of its figures, and
can be deleted without touching the real data."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from makerwatch.core.site_config import SiteConfig
from makerwatch.core.statistics import statistics
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedMosquitto
from makerwatch.sim.commands import backfill
from tests.support import publish, start_ingest, stored, wait_until

pytestmark = pytest.mark.stack


async def _count(influx: InfluxClient, query: str) -> int:
    rows = await stored(influx, query)
    return int(rows[0]["count"]) if rows else 0


async def test_a_backfill_on_a_real_site_never_reaches_its_figures(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, tmp_path: Path
) -> None:
    """Test that a real machine-hour and a simulated backfill on the same site and
    machines give the real figures by default, both when asked, and the real ones
    again after `makerwatch data delete-simulated`."""
    always = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    config = site_config.model_copy(update={
        "site": site_config.site.model_copy(update={"opening_hours": always}),
        "ingest": site_config.ingest.model_copy(update={"max_reading_age_s": 30 * 86400.0}),
    })  # fmt: skip
    running = await start_ingest(config)
    day = datetime.now(UTC).date() - timedelta(days=2)
    t0 = datetime.combine(day, datetime.min.time(), UTC).timestamp() + 9 * 3600
    topic = f"makerspace/{config.site.id}/solder-1"
    await publish(mosquitto.port, [
        (f"{topic}/status", json.dumps({"v": 1, "ts": t0 - 60, "online": True})),
        (f"{topic}/telemetry", json.dumps({"v": 1, "ts": t0, "seq": 1, "power_w": 50.0})),
        (f"{topic}/state", json.dumps({"v": 1, "ts": t0, "state": "active", "previous": "off", "previous_duration_s": 60})),
        (f"{topic}/telemetry", json.dumps({"v": 1, "ts": t0 + 3600, "seq": 2, "power_w": 50.0})),
        (f"{topic}/state", json.dumps({"v": 1, "ts": t0 + 3600, "state": "off", "previous": "active", "previous_duration_s": 3600})),
    ])  # fmt: skip
    summary = await asyncio.to_thread(backfill, config, 4 * 86400, 5, "127.0.0.1", mosquitto.port)
    states = len(summary.tally.states) + 2
    async with InfluxClient(config.influxdb) as influx:

        async def all_stored() -> bool:
            return await _count(influx, "SELECT count(state) FROM state") == states

        await wait_until(all_stored, "the real and simulated states stored", 60)
        await running.shutdown()
        period, now_ms = f"{day}..{day}", int(time.time() * 1000)
        real = await statistics(influx.query, [config], period, now_ms)
        both = await statistics(influx.query, [config], period, now_ms, simulated=True)
        assert real.total.machine_hours == pytest.approx(1.0)
        assert real.total.sessions == 1
        assert real.total.energy_kwh == pytest.approx(0.05)
        assert not real.simulated
        assert both.total.machine_hours > real.total.machine_hours + 1, (
            "the backfill had use that day"
        )

        site_file = tmp_path / "site.yaml"
        site_file.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
        deleted = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "makerwatch.cli", "data", "delete-simulated", "--config", str(site_file)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert deleted.returncode == 0, deleted.stderr
        assert await _count(influx, "SELECT count(seq) FROM telemetry WHERE source = 'sim'") == 0
        assert await _count(influx, "SELECT count(seq) FROM telemetry") == 2, (
            "the real readings kept"
        )
        after = await statistics(influx.query, [config], period, now_ms, simulated=True)
        assert after.total.values == pytest.approx(real.total.values, rel=1e-9)
