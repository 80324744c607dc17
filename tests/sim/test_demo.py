"""The simulated makerspace of `makerwatch up` and the scenarios do not drive the same devices."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import SiteConfig, load_site_config
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedMosquitto
from makerwatch.sim.commands import backfill, demo_running, run_scenario, start_demo
from tests.sim.ended import assert_boards_ended_offline, wait_for_statuses
from tests.support import ROOT, WAIT_TIMEOUT_S, RunningIngest, publish

CONFIG = load_site_config(ROOT / "makerspace.example.yaml")


def demo_seen(port: int) -> bool:
    """Wait (up to the tests' limit) until the demo's marker is there."""
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while time.monotonic() < deadline:
        if demo_running("127.0.0.1", port, CONFIG.site.id):
            return True
    return False


def test_a_scenario_or_backfill_refuses_to_run_beside_the_demo(
    mosquitto: EmbeddedMosquitto,
) -> None:
    """Test that while the demo runs, a scenario and a backfill on its site refuse with one
    sentence saying what to do, and that once it stops they may run."""
    stop = threading.Event()
    thread = start_demo(CONFIG, "127.0.0.1", mosquitto.port, 1, stop)
    try:
        assert demo_seen(mosquitto.port)
        with pytest.raises(ConfigError, match="--no-sim"):
            run_scenario(CONFIG, "normal-week", None, 1, "127.0.0.1", mosquitto.port)
        with pytest.raises(ConfigError, match="driven by the simulated makerspace"):
            backfill(CONFIG, 3600, 1, "127.0.0.1", mosquitto.port)
    finally:
        stop.set()
        thread.join(30)
    assert not demo_running("127.0.0.1", mosquitto.port, CONFIG.site.id)


def test_another_site_is_not_affected(mosquitto: EmbeddedMosquitto, tmp_path: Path) -> None:
    """Test that the demo's marker is per site."""
    stop = threading.Event()
    thread = start_demo(CONFIG, "127.0.0.1", mosquitto.port, 1, stop)
    try:
        assert demo_seen(mosquitto.port)
        assert not demo_running("127.0.0.1", mosquitto.port, "almaty")
    finally:
        stop.set()
        thread.join(30)


async def test_a_simulation_refuses_a_site_with_real_boards_unless_told(
    mosquitto: EmbeddedMosquitto,
) -> None:
    """Test that a real board's retained status on the site makes a backfill refuse in one
    sentence naming the board and the way to go on, that a simulated board's does not,
    and that --on-real-site runs it."""
    status = f"makerspace/{CONFIG.site.id}/{{}}/status"
    await publish(
        mosquitto.port,
        [(status.format("cnc-1"), json.dumps({"v": 1, "online": True, "sim": True}))],
        retain=True,
    )
    summary = await asyncio.to_thread(backfill, CONFIG, 600, 1, "127.0.0.1", mosquitto.port)
    assert sum(summary.tally.messages.values()) > 0, "a simulated board's status does not block"
    await publish(
        mosquitto.port,
        [(status.format("solder-1"), json.dumps({"v": 1, "online": True}))],
        retain=True,
    )
    with pytest.raises(
        ConfigError, match=r"real boards on this broker \(solder-1\).*--on-real-site"
    ):
        await asyncio.to_thread(backfill, CONFIG, 600, 1, "127.0.0.1", mosquitto.port)
    with pytest.raises(ConfigError, match="--on-real-site"):
        await asyncio.to_thread(
            run_scenario, CONFIG, "normal-week", None, 1, "127.0.0.1", mosquitto.port
        )
    summary = await asyncio.to_thread(backfill, CONFIG, 600, 1, "127.0.0.1", mosquitto.port, True)
    assert sum(summary.tally.messages.values()) > 0


async def test_a_stopped_demo_leaves_every_board_offline(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
) -> None:
    """Test that once the demo of `makerwatch up` stops, every simulated board's retained
    status says offline, stamped when it stopped, and so does its last device_status."""
    stop = threading.Event()
    thread = start_demo(site_config, "127.0.0.1", mosquitto.port, 1, stop)
    try:
        online = await wait_for_statuses(mosquitto.port, site_config, online=True)
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 30)
    assert not thread.is_alive()
    ended = await wait_for_statuses(mosquitto.port, site_config, online=False)
    stopped_ms = {round(status["ts"] * 1000) for status in ended.values()}
    assert len(stopped_ms) == 1, "the boards stop together"
    (stopped_at,) = stopped_ms
    assert stopped_at >= max(round(status["ts"] * 1000) for status in online.values())
    await assert_boards_ended_offline(mosquitto.port, site_config, influx, stopped_at)
