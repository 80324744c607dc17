"""Backfill and fleet against the real pipeline: what they report sending is what arrived."""

from __future__ import annotations

import asyncio

import pytest

from makerwatch.core.site_config import SiteConfig
from makerwatch.core.usage import MACHINE_HOURS_QUERY, SESSIONS_QUERY
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedMosquitto
from makerwatch.sim.commands import backfill
from makerwatch.sim.fleet import run_fleet
from tests.sim.ended import assert_boards_ended_offline
from tests.support import RunningIngest, mqtt_client, stored, wait_until

WEEKDAYS_OPEN = {day: ["10:00-19:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat")}


async def test_backfill_of_a_week_matches_what_influxdb_stored(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
) -> None:
    """Test that a 7-day backfill stores exactly the readings it reports, its machine-hours
    match InfluxQL, and its boards end offline, stamped with the end of the backfill."""
    config = site_config.model_copy(
        update={"site": site_config.site.model_copy(update={"opening_hours": WEEKDAYS_OPEN})}
    )
    summary = await asyncio.to_thread(backfill, config, 7 * 86400, 5, "127.0.0.1", mosquitto.port)
    sent_readings = sum(summary.tally.readings.values())
    assert sent_readings > 2 * 7 * 1440 * 0.99, "a reading a minute from each of the two machines"

    async def all_readings_stored() -> bool:
        return await _count(influx, "SELECT count(seq) FROM telemetry") == sent_readings

    async def all_states_stored() -> bool:
        return await _count(influx, "SELECT count(state) FROM state") == len(summary.tally.states)

    await wait_until(all_readings_stored, f"{sent_readings} readings stored", within_s=60)
    await wait_until(all_states_stored, "every state stored")
    usage = summary.usage()
    assert sum(u.machine_hours for u in usage.values()) > 1, "the week had real use"
    hours = {r["device"]: r["machine_hours"] for r in await stored(influx, MACHINE_HOURS_QUERY)}
    sessions = {r["device"]: r["sessions"] for r in await stored(influx, SESSIONS_QUERY)}
    for device, expected in usage.items():
        assert hours.get(device, 0.0) == pytest.approx(expected.machine_hours, abs=1e-6), device
        assert sessions.get(device, 0) == expected.sessions, device
    await assert_boards_ended_offline(mosquitto.port, config, influx, summary.ended_ms)


async def test_fleet_reports_its_rate_and_the_exact_count_sent(
    mosquitto: EmbeddedMosquitto,
) -> None:
    """Test that the fleet's count per site is exactly what a subscriber received."""
    received: dict[str, int] = {}
    ready = asyncio.Event()

    async def listen() -> None:
        async with mqtt_client(mosquitto.port) as client:
            await client.subscribe("makerspace/+/+/telemetry", qos=1)
            ready.set()
            async for message in client.messages:
                site = message.topic.value.split("/")[1]
                if site.startswith("fleet-"):
                    received[site] = received.get(site, 0) + 1

    task = asyncio.create_task(listen())
    await ready.wait()
    sites = ["fleet-a", "fleet-b", "fleet-c"]
    report = await asyncio.to_thread(
        run_fleet, "127.0.0.1", mosquitto.port, 30, 300.0, 2.0, sites, 2, 1
    )
    await wait_until(
        lambda: sum(received.values()) == report.total, f"{report.total} messages received"
    )
    task.cancel()
    assert report.total == 600
    assert dict(report.sent) == received
    assert report.rate == pytest.approx(report.total / report.seconds)


async def _count(influx: InfluxClient, influxql: str) -> int:
    rows = await stored(influx, influxql)
    return int(rows[0]["count"]) if rows else 0
