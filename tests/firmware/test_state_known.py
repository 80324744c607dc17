"""A machine's state is known from the board's first reading and after any restart: the
board's whole program on the host, real Mosquitto, real ingest, real InfluxDB."""

from __future__ import annotations

import time
from pathlib import Path

from makerwatch.core.site_config import SiteConfig
from makerwatch.ops.embedded import EmbeddedMosquitto
from tests.firmware.board import board_settings, running_board
from tests.support import RunningIngest, publish, start_ingest, wait_until


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_every_restart_leaves_the_tile_showing_the_real_state(
    tmp_path: Path, site_config: SiteConfig, mosquitto: EmbeddedMosquitto, ingest: RunningIngest
) -> None:
    """Test that a new board beside a machine that is off shows "off" within one
    telemetry period of its first reading; that after the retained state is lost and
    ingest restarted, a broker restart has the board state it again at once; that a
    board restarted with its machine in use shows "in use" with "on since"; and that a
    board that goes silent shows "no signal" with its last state."""
    settings = board_settings(site_config.site.id, mosquitto.port, min_dwell_s=0.5)
    period_s = float(settings["telemetry_period_s"])
    state_topic = f"makerspace/{site_config.site.id}/solder-1/state"

    with running_board(settings, tmp_path) as run:
        run.signals.current_a = 0.0
        tile = ingest.service.floor.tiles["solder-1"]
        await wait_until(lambda: tile.machine.heard_ms is not None, "the board heard")
        heard = time.monotonic()
        await wait_until(lambda: tile.state == "off", "off from the first readings")
        assert time.monotonic() - heard < period_s + 2, "within one telemetry period"

        # The retained state is cleared and ingest restarts: nothing knows the state...
        await publish(mosquitto.port, [(state_topic, "")], retain=True)
        await ingest.shutdown()
        ingest = await start_ingest(site_config)
        try:
            tile = ingest.service.floor.tiles["solder-1"]
            await wait_until(lambda: tile.machine.heard_ms is not None, "heard again")
            assert tile.machine.state is None
            # ... until the broker restarts: the board reconnects and states it again.
            mosquitto.stop()
            mosquitto.start()
            await wait_until(lambda: tile.state == "off", "off, restated on reconnecting", 30)
        except BaseException:
            await ingest.shutdown()
            raise

    try:
        # The board restarts with its machine in use: "in use", and since when it was on.
        switched_on_ms = now_ms()
        with running_board(settings, tmp_path) as run:
            run.signals.current_a = 0.3
            await wait_until(lambda: tile.state == "active", "in use after the restart", 30)
            on_since = tile.machine.on_since_ms
            assert on_since is not None
            assert on_since >= switched_on_ms - 1000
            [shown] = [
                m for m in ingest.service.floor.machines(now_ms()) if m["device"] == "solder-1"
            ]
            assert shown["on_since_ms"] == on_since

        # Stopped without a word (its last will would come only after its keep-alive):
        # silence past three periods is "no signal", with the state it was last in.
        def no_signal() -> bool:
            tile.show(now_ms())
            return tile.state == "no_signal"

        await wait_until(no_signal, "no signal", 3 * period_s + 30)
        [shown] = [m for m in ingest.service.floor.machines(now_ms()) if m["device"] == "solder-1"]
        assert (shown["state"], shown["was"]) == ("no_signal", "active")
        assert shown["no_signal_since_ms"] == tile.machine.heard_ms
    finally:
        await ingest.shutdown()
