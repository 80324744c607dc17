"""Retention and rollups: raw readings expire by policy, the figures stay."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from makerwatch.core.site_config import SiteConfig
from makerwatch.core.statistics import statistics
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedMosquitto
from makerwatch.sim.commands import backfill
from tests.support import start_ingest, stored, wait_until

pytestmark = pytest.mark.stack

DAYS_BACK = 40
RETENTION_DAYS = 20


def _with(config: SiteConfig, **ingest: object) -> SiteConfig:
    opening = {d: ["10:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
    return config.model_copy(update={
        "site": config.site.model_copy(update={"opening_hours": opening}),
        "ingest": config.ingest.model_copy(update={"max_reading_age_s": 400 * 86400.0, **ingest}),
    })  # fmt: skip


async def _count(influx: InfluxClient, query: str) -> int:
    rows = await stored(influx, query)
    return int(rows[0]["count"]) if rows else 0


async def test_figures_from_rollups_equal_the_raw_ones_after_raw_readings_expire(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto
) -> None:
    """Test that after a backfill, the figures of days whose raw readings the retention
    deleted equal the figures computed from those raw readings before."""
    config = _with(site_config)
    running = await start_ingest(config)
    summary = await asyncio.to_thread(
        backfill, config, DAYS_BACK * 86400, 7, "127.0.0.1", mosquitto.port
    )
    sent = sum(summary.tally.readings.values())
    async with InfluxClient(config.influxdb) as influx:
        await wait_until(
            lambda: _count(influx, "SELECT count(seq) FROM telemetry"), "readings stored"
        )
        await wait_until(
            lambda: _count(influx, "SELECT count(seq) FROM telemetry"),
            f"{sent} readings stored",
            60,
        )

        async def all_stored() -> bool:
            return await _count(influx, "SELECT count(seq) FROM telemetry") == sent

        await wait_until(all_stored, f"{sent} readings stored", 60)
        await running.shutdown()  # rolls up what it wrote

        today = datetime.now(UTC).date()
        period = (
            f"{today - timedelta(days=DAYS_BACK - 2)}..{today - timedelta(days=RETENTION_DAYS + 2)}"
        )
        now_ms = int(time.time() * 1000)
        before = await statistics(influx.query, [config], period, now_ms, simulated=True)
        assert before.total.machine_hours > 1, "the days had real use"
        assert before.total.energy_kwh > 0.1
        start = before.sites[0].period.start_ms

        expiring = _with(site_config, raw_retention_days=float(RETENTION_DAYS))
        running = await start_ingest(expiring)

        async def expired() -> bool:
            return (
                await _count(
                    influx,
                    f"SELECT count(seq) FROM telemetry WHERE time < {now_ms - RETENTION_DAYS * 86_400_000 - 86_400_000}ms",
                )
                == 0
            )

        await wait_until(expired, "raw readings past the retention deleted", 60)
        await running.shutdown()
        assert (
            await _count(influx, f"SELECT count(seq) FROM telemetry WHERE time >= {start}ms") > 0
        ), "recent ones kept"
        after = await statistics(influx.query, [config], period, now_ms, simulated=True)
        for field in ("machine_hours", "on_hours", "sessions", "energy_kwh", "open_hours"):
            assert getattr(after.total, field) == pytest.approx(
                getattr(before.total, field), rel=1e-9
            ), field
        # Energy is summed from daily rollups after, integrated from readings before: equal
        # but for the last bits of a float.
        assert [m.figures.values for m in after.machines] == [
            pytest.approx(m.figures.values, rel=1e-9) for m in before.machines
        ]
        assert after.busiest_hours == before.busiest_hours
