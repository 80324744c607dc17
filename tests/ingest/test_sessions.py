"""Usage sessions are written from stored data, and a restart does not lose one."""

from __future__ import annotations

import json
import time

from ingest.influx import InfluxClient
from makerwatch.embedded import EmbeddedMosquitto
from makerwatch.site_config import SiteConfig
from tests.support import publish, start_ingest, stored, wait_until


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
