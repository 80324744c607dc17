"""Usage sessions are written from stored data, and a restart does not lose one."""

from __future__ import annotations

import json
import time
from pathlib import Path

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import make_config, publish, start_ingest, stored, wait_until


async def test_session_ending_just_before_a_restart_is_written_after_it(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, influx: InfluxClient
) -> None:
    """Test that a session whose end was stored before a restart is written once its tail arrives after it."""
    site = site_config.site.id
    t0 = time.time() - 3600
    state = f"makerspace/{site}/solder-1/state"
    telemetry = f"makerspace/{site}/solder-1/telemetry"

    def reading(seconds: float, seq: int, power_w: float) -> tuple[str, str]:
        return telemetry, json.dumps(
            {"v": 1, "ts": t0 + seconds, "seq": seq, "power_w": power_w, "temp_c": 300.0}
        )

    first = await start_ingest(site_config)
    await publish(mosquitto.port, [
        (state, json.dumps({"v": 1, "ts": t0, "state": "active", "previous": "off"})),
        reading(0, 0, 40.0), reading(600, 1, 40.0), reading(1200, 2, 40.0),
        (state, json.dumps({"v": 1, "ts": t0 + 1200, "state": "off", "previous": "active", "previous_duration_s": 1200})),
    ])  # fmt: skip
    await wait_until(
        lambda: first.service.counters.messages_stored == 5, "the session and its end stored"
    )
    await first.shutdown()

    second = await start_ingest(site_config)
    try:
        await publish(mosquitto.port, [reading(1210, 3, 0.0)])

        async def session_written() -> bool:
            return bool(await stored(influx, "SELECT * FROM session"))

        await wait_until(session_written, "the session written after the restart")
    finally:
        await second.shutdown()
    [session] = await stored(
        influx, "SELECT duration_s, energy_wh, peak_power_w, max_temp_c FROM session"
    )
    assert session["time"] == round(t0 * 1000)
    assert (session["duration_s"], session["peak_power_w"], session["max_temp_c"]) == (
        1200.0,
        40.0,
        300.0,
    )
    assert abs(session["energy_wh"] - 40.0 * 1200 / 3600) < 1e-6


async def test_session_ending_while_influxdb_is_away_is_written_after_the_spool_drains(
    tmp_path: Path, mosquitto: EmbeddedMosquitto
) -> None:
    """Test that a session whose end went through the spool is written once InfluxDB is back."""
    with EmbeddedInfluxDB(free_port(), tmp_path / "influxdb") as influxdb:
        config = make_config(mosquitto.port, influxdb.url, spool_dir=str(tmp_path / "spool"))
        site = config.site.id
        t0 = time.time() - 3600
        state, telemetry = (
            f"makerspace/{site}/solder-1/state",
            f"makerspace/{site}/solder-1/telemetry",
        )

        def reading(seconds: float, seq: int, power_w: float) -> tuple[str, str]:
            return telemetry, json.dumps(
                {"v": 1, "ts": t0 + seconds, "seq": seq, "power_w": power_w}
            )

        ingest = await start_ingest(config)
        try:
            await publish(mosquitto.port, [(state, json.dumps({"v": 1, "ts": t0, "state": "active", "previous": "off"})),
                                           reading(0, 0, 30.0)])  # fmt: skip
            await wait_until(
                lambda: ingest.service.counters.messages_stored == 2,
                "the session's start written",
            )
            influxdb.stop()
            off = json.dumps(
                {
                    "v": 1,
                    "ts": t0 + 600,
                    "state": "off",
                    "previous": "active",
                    "previous_duration_s": 600,
                }
            )
            await publish(
                mosquitto.port, [reading(600, 1, 30.0), (state, off), reading(610, 2, 0.0)]
            )
            await wait_until(
                lambda: ingest.service.counters.spooled_batches >= 1, "the end spooled"
            )
            influxdb.start()
            await wait_until(lambda: not ingest.service.spool.pending, "the spool drained")  # type: ignore[union-attr]
            await publish(
                mosquitto.port, [reading(620, 3, 0.0)]
            )  # the next reading after the outage
            async with InfluxClient(config.influxdb) as influx:

                async def session_written() -> bool:
                    return bool(await stored(influx, "SELECT * FROM session"))

                await wait_until(session_written, "the session written")
                [session] = await stored(influx, "SELECT duration_s, energy_wh FROM session")
        finally:
            await ingest.shutdown()
    assert session["duration_s"] == 600
    assert abs(session["energy_wh"] - 30.0 * 600 / 3600) < 1e-6
