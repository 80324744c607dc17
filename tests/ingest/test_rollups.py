"""Daily energy rollups: followed reading by reading, equal to the whole day's integral."""

from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from makerwatch.core.site_config import SiteConfig
from makerwatch.core.statistics import ENERGY_KWH, tz_clause
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedMosquitto
from tests.support import count_points, publish, start_ingest, stored, wait_until

pytestmark = pytest.mark.stack

DEVICES = ("solder-1", "printer-1")


def readings(config: SiteConfig, seqs: range, start_s: float) -> list[tuple[str, bytes | str]]:
    """A reading every 10 s from start_s for each device, with a power of its own."""
    return [
        (
            f"makerspace/{config.site.id}/{device}/telemetry",
            json.dumps(
                {
                    "v": 1,
                    "seq": seq,
                    "ts": start_s + 10 * seq,
                    "power_w": (seq * seq % 13) * 7.5 + i,
                }
            ),
        )
        for seq in seqs
        for i, device in enumerate(DEVICES)
    ]


async def energy(
    influx: InfluxClient, config: SiteConfig
) -> tuple[dict[str, float], dict[str, float]]:
    """(what the rollup wrote, InfluxDB's own integral of the whole day) per device and day."""
    rolled = await stored(influx, "SELECT kwh FROM energy_daily GROUP BY device")
    whole = await stored(
        influx,
        f"SELECT {ENERGY_KWH} FROM telemetry GROUP BY time(1d), device fill(none) "
        f"{tz_clause(config.site.timezone)}",
    )
    return (
        {f"{r['device']} {r['time']}": r["kwh"] for r in rolled},
        {f"{r['device']} {r['time']}": r["kwh"] for r in whole},
    )


async def test_energy_followed_reading_by_reading_equals_the_whole_days_integral(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, influx: InfluxClient
) -> None:
    """Test that the energy ingest adds up reading by reading, across a restart (the day read
    whole again) and a reading older than one counted, is exactly InfluxDB's integral of the
    day."""
    # An hour back, all on one site day: just after the site's midnight, the day before.
    now = datetime.now(ZoneInfo(site_config.site.timezone))
    midnight_s = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    start_s = time.time() - 3600
    if start_s - 600 < midnight_s:
        start_s = midnight_s - 2 * 3600
    running = await start_ingest(site_config)
    await publish(mosquitto.port, readings(site_config, range(1, 40), start_s))
    await wait_until(lambda: _count_is(influx, 78), "78 readings stored")
    await running.shutdown()  # writes what changed

    running = await start_ingest(site_config)  # reads today whole, then follows it
    await publish(mosquitto.port, readings(site_config, range(40, 80), start_s))
    await wait_until(lambda: _count_is(influx, 158), "158 readings stored")
    await publish(mosquitto.port, readings(site_config, range(80, 120, 2), start_s))
    await wait_until(lambda: _count_is(influx, 198), "198 readings stored")
    late = readings(site_config, range(81, 82), start_s)  # between two counted ones
    await publish(mosquitto.port, late)
    await wait_until(lambda: _count_is(influx, 200), "the late readings stored")
    await running.shutdown()

    rolled, whole = await energy(influx, site_config)
    assert len(whole) >= len(DEVICES)
    assert rolled.keys() == whole.keys()
    for key, kwh in whole.items():
        assert rolled[key] == kwh, key  # InfluxDB's own sum, term by term


async def _count_is(influx: InfluxClient, expected: int) -> bool:
    return await count_points(influx) == expected
