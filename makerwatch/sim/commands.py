"""What `makerwatch simulate` and `makerwatch up` run: scenarios, backfill, the demo."""

from __future__ import annotations

import re
import threading
import time

from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import SiteConfig
from makerwatch.sim.publisher import MqttPublisher
from makerwatch.sim.runner import Simulation, Summary
from makerwatch.sim.scenarios import SCENARIOS, build_boards, scenario_named, start_for

__all__ = ["backfill", "parse_duration_s", "run_scenario", "start_demo"]

BACKFILL_TELEMETRY_PERIOD_S = 60  # history at a reading a minute is plenty for reports
BACKFILL_DELIVERY_MS = 600_000  # boards hand over ten simulated minutes at a time
SAMPLE_PERIOD_S = 2.0


def parse_duration_s(text: str) -> float:
    """'30d', '12h', '90m' or '45s' in seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhms])", text.strip())
    if not match:
        raise ConfigError(
            f"duration {text!r}: expected a number and a unit, such as 30d, 12h or 90m"
        )
    return float(match.group(1)) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[match.group(2)]


def _publisher(config: SiteConfig, host: str, port: int, purpose: str) -> MqttPublisher:
    return MqttPublisher(host, port, f"mw-sim-{purpose}-{config.site.id}")


def run_scenario(config: SiteConfig, name: str, speed: float | None, seed: int, host: str, port: int,
                 stop: threading.Event | None = None) -> Summary:  # fmt: skip
    """Run a named scenario against a broker; at speed X it ends no later than real now."""
    scenario = scenario_named(name)
    now_ms = int(time.time() * 1000)
    start_ms = start_for(scenario, now_ms, speed)
    boards = build_boards(scenario, config, start_ms, seed, sample_period_s=SAMPLE_PERIOD_S)
    step_ms = 60_000 if speed is None else max(1000, int(speed * 100))
    publisher = _publisher(config, host, port, name)
    try:
        end_ms = start_ms + int(scenario.days * 86_400_000)
        return Simulation(boards, publisher, start_ms, end_ms, speed=speed, step_ms=step_ms).run(
            stop
        )
    finally:
        publisher.close()


def backfill(config: SiteConfig, seconds: float, seed: int, host: str, port: int) -> Summary:
    """History for [now - seconds, now] through the normal pipeline, as fast as it goes."""
    scenario = SCENARIOS["normal-week"]
    end_ms = int(time.time() * 1000)
    start_ms = end_ms - int(seconds * 1000)
    boards = build_boards(scenario, config, start_ms, seed, end_ms=end_ms, sample_period_s=SAMPLE_PERIOD_S,
                          telemetry_period_s=BACKFILL_TELEMETRY_PERIOD_S)  # fmt: skip
    publisher = _publisher(config, host, port, "backfill")
    try:
        return Simulation(
            boards, publisher, start_ms, end_ms, speed=None, step_ms=BACKFILL_DELIVERY_MS
        ).run()
    finally:
        publisher.close()


def start_demo(
    config: SiteConfig, host: str, port: int, seed: int, stop: threading.Event
) -> threading.Thread:
    """The living makerspace of `makerwatch up`: the demo scenario in real time, in a thread."""
    thread = threading.Thread(
        target=run_scenario,
        args=(config, "demo", 1.0, seed, host, port, stop),
        name="simulation",
        daemon=True,
    )
    thread.start()
    return thread
