"""The load fleet's smart plugs, through the real broker and ingest into InfluxDB:
every firmware's plugs report beside the boards, and what the fleet says it sent
is what is stored."""

from __future__ import annotations

import asyncio

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from makerwatch.sim.fleet import fleet_devices, run_fleet
from makerwatch.sim.fleet_plugs import FIRMWARE, fleet_plugs, plug_power_topics
from tests.support import start_ingest, stored, wait_until

BOARDS, PLUGS = 2, 10


async def test_the_fleet_runs_plugs_of_every_firmware_and_each_reading_is_stored(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that a fleet with plugs stores every reading it counted (one power_w each),
    from every plug and board, with nothing dead-lettered."""
    site = "fleet-plugs"
    plugs = fleet_plugs(PLUGS, [site])
    assert sorted({device["source"]["type"] for _, device in plugs}) == sorted(FIRMWARE)
    assert len(set(plug_power_topics(plugs))) == PLUGS, "each plug on topics of its own"
    config = SiteConfig.model_validate({
        "site": {"id": site, "name": "Fleet"},
        "devices": [{"id": d, "name": d, "kind": "other"} for _, d in fleet_devices(BOARDS, [site])]
                   + [device for _, device in plugs],
        "mqtt": {"port": mosquitto.port, "client_id": "fleet-plugs"},
        "influxdb": {"url": influxdb.url, "database": "fleet_plugs"},
        "ingest": {"batch_max_age_s": 0.05, "http_port": None, "spool_dir": None},
    })  # fmt: skip
    running = await start_ingest(config)
    try:
        report = await asyncio.to_thread(
            run_fleet, "127.0.0.1", mosquitto.port, BOARDS, 20.0, 2.0, [site], 1, 1, PLUGS
        )
        assert report.total == 40 + 200, "the boards' 40 and the plugs' 200 (each as often as a board)"  # fmt: skip
        async with InfluxClient(config.influxdb) as influx:

            async def per_device() -> dict[str, int]:
                rows = await stored(influx, "SELECT count(power_w) FROM telemetry GROUP BY device")
                return {row["device"]: row["count"] for row in rows}

            async def all_stored() -> bool:
                return sum((await per_device()).values()) == report.total

            await wait_until(all_stored, f"{report.total} readings stored")
            assert set(await per_device()) == {d.id for d in config.devices}
        assert running.service.counters.dead_lettered == {}
    finally:
        await running.shutdown()
