"""A source that states no machine state (older firmware) gets one from its readings,
by the board's own definition, until it states one itself."""

from __future__ import annotations

import json
import time

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedMosquitto
from tests.support import publish, start_ingest, stored, wait_until


async def test_older_firmware_gets_its_state_from_its_readings_until_it_states_one(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, influx: InfluxClient
) -> None:
    """Test that a board on firmware 0.1.0 beside a machine that is off shows "off" from its
    readings, then "in use" once the power says so (with "on since"), stored as state points
    marked derived; and that once the board states a change itself, ingest derives no more."""
    site = site_config.site.id
    topic = f"makerspace/{site}/printer-1"
    t0 = time.time() - 600
    period = site_config.device("printer-1").telemetry_period_s  # type: ignore[union-attr]

    def reading(seq: int, power_w: float) -> tuple[str, str]:
        body = {"v": 1, "ts": t0 + seq * period, "seq": seq, "power_w": power_w}
        return f"{topic}/telemetry", json.dumps(body)

    running = await start_ingest(site_config)
    try:
        tile = running.service.floor.tiles["printer-1"]
        await publish(mosquitto.port, [
            (f"{topic}/status", json.dumps({"v": 1, "online": True, "fw": "0.1.0"})),
            reading(0, 0.2), reading(1, 0.2),
        ])  # fmt: skip
        await wait_until(lambda: tile.state == "off", "off, from its readings")
        await publish(mosquitto.port, [reading(s, 80.0) for s in range(2, 5)])
        await wait_until(lambda: tile.state == "active", "in use, from its readings")
        on_since_ms = tile.machine.on_since_ms
        assert on_since_ms is not None
        assert round((t0 + 2 * period) * 1000) <= on_since_ms <= round((t0 + 4 * period) * 1000)

        async def derived() -> list[dict[str, object]]:
            return await stored(
                influx, "SELECT state, previous, on_since_ms FROM state WHERE derived = true"
            )

        await wait_until(lambda: _count(derived, 2), "two derived states stored")
        rows = await derived()
        assert [(r["state"], r["previous"]) for r in rows] == [("off", None), ("active", "off")]
        assert rows[1]["on_since_ms"] == on_since_ms

        # The board states a change itself: ingest leaves its states to it from then on.
        own = {"v": 1, "ts": t0 + 5 * period, "state": "idle", "previous": "active",
               "previous_duration_s": 2 * period}  # fmt: skip
        await publish(mosquitto.port, [(f"{topic}/state", json.dumps(own)), reading(6, 0.1), reading(7, 0.1)])  # fmt: skip
        await wait_until(lambda: running.service.counters.messages_stored >= 9, "all stored")
        assert len(await derived()) == 2, "no state derived once the board states its own"
        assert tile.state == "idle"
    finally:
        await running.shutdown()


async def _count(query: object, wanted: int) -> bool:
    return len(await query()) >= wanted  # type: ignore[operator]
