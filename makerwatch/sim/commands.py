"""What `makerwatch simulate` and `makerwatch up` run: scenarios, backfill, the demo."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from makerwatch.core.errors import ConfigError
from makerwatch.core.protocol import demo_topic
from makerwatch.core.site_config import SiteConfig
from makerwatch.sim.members import MemberTaps, TappingPublisher
from makerwatch.sim.plug import unplug_unless_real_time
from makerwatch.sim.publisher import MqttPublisher, connect
from makerwatch.sim.runner import Simulation, Summary
from makerwatch.sim.scenarios import (
    SCENARIOS,
    build_boards,
    ends_in_time,
    scenario_named,
    start_for,
    timeline,
)

__all__ = ["backfill", "parse_duration_s", "parse_start", "run_scenario", "start_demo"]

BACKFILL_TELEMETRY_PERIOD_S = 60  # history at a reading a minute is plenty for reports
BACKFILL_DELIVERY_MS = 600_000  # boards hand over ten simulated minutes at a time
SAMPLE_PERIOD_S = 2.0
DEMO = "demo"
SUBSCRIBED_WITHIN_S = 5.0
RETAINED_WITHIN_S = 0.5  # after the subscription: the broker sends retained messages at once


def parse_duration_s(text: str) -> float:
    """'30d', '12h', '90m' or '45s' in seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhms])", text.strip())
    if not match:
        raise ConfigError(
            f"duration {text!r}: expected a number and a unit, such as 30d, 12h or 90m"
        )
    return float(match.group(1)) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[match.group(2)]


def _retained(host: str, port: int, topic_filter: str) -> list[tuple[str, bytes]]:
    """The retained messages the broker holds under `topic_filter` (empty ones: cleared)."""
    found: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.retain and message.payload:
            found.append((message.topic, bytes(message.payload)))

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    connect(client, host, port, keepalive_s=10)
    client.loop_start()
    try:
        client.subscribe(topic_filter, qos=1)
        # Retained messages come right after the subscription is acknowledged.
        if subscribed.wait(SUBSCRIBED_WITHIN_S):
            time.sleep(RETAINED_WITHIN_S)  # the broker's retained messages, sent at once
        return list(found)
    finally:
        client.disconnect()
        client.loop_stop()


def demo_running(host: str, port: int, site: str) -> bool:
    """Is `makerwatch up`'s simulated makerspace driving this site's devices? (Its
    retained marker is there.)"""
    return bool(_retained(host, port, demo_topic(site)))


def _real_boards(retained: list[tuple[str, bytes]]) -> list[str]:
    """Devices whose retained status comes from a board, not from a simulation."""
    boards = []
    for topic, payload in retained:
        if not topic.endswith("/status"):
            continue
        try:
            simulated = json.loads(payload).get("sim") is True
        except (ValueError, AttributeError):
            simulated = False
        if not simulated:
            boards.append(topic.split("/")[2])
    return sorted(boards)


def _refuse_where_it_would_mix(
    config: SiteConfig, host: str, port: int, on_real_site: bool = False
) -> None:
    """Refuse a simulation beside another (the demo of `makerwatch up`) or beside real
    boards of the site, unless told to run on a real site."""
    site = config.site.id
    retained = _retained(host, port, f"makerspace/{site}/#")  # one look at what the broker holds
    if any(topic == demo_topic(site) for topic, _ in retained):
        raise ConfigError(
            f"site {site!r} is driven by the simulated makerspace of `makerwatch up`; "
            "restart it with --no-sim to run a scenario or a backfill beside it"
        )
    boards = [] if on_real_site else _real_boards(retained)
    if boards:
        shown = ", ".join(boards[:3]) + (", ..." if len(boards) > 3 else "")
        raise ConfigError(
            f"site {site!r} has real boards on this broker ({shown}): simulated machines would "
            "appear beside them on the floor board and in alerts; give --on-real-site to run "
            "it anyway (its data stays apart: makerwatch data delete-simulated removes it)"
        )


def parse_start(text: str, config: SiteConfig) -> int:
    """`--start`: an ISO date and time, in the site's time zone unless it gives its own offset."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--start {text!r}: expected a date and time such as 2026-12-06T10:00 "
            f"(the site's time zone, {config.site.timezone}, unless an offset is given)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(config.site.timezone))
    return int(when.timestamp() * 1000)


def run_scenario(config: SiteConfig, name: str, speed: float | None, seed: int, host: str, port: int,
                 stop: threading.Event | None = None, on_real_site: bool = False, *,
                 start_ms: int | None = None, end_ms: int | None = None) -> Summary:  # fmt: skip
    """Run a named scenario against a broker; at speed X it ends no later than real now.

    `start_ms` (`--start`) sets the simulated clock's start instead of the latest one that
    ends by now; `end_ms` cuts the run short (tests run a few hours of the year-long demo)."""
    scenario = scenario_named(name)
    if name != DEMO:
        _refuse_where_it_would_mix(config, host, port, on_real_site)
    now_ms = int(time.time() * 1000)
    if start_ms is None:
        start_ms = start_for(scenario, config, now_ms, speed)
    end_ms = min(end_ms or 2**62, timeline(scenario, config, start_ms).end_ms)
    if not ends_in_time(start_ms, end_ms, speed, now_ms):
        shown = datetime.fromtimestamp(start_ms / 1000, ZoneInfo(config.site.timezone))
        raise ConfigError(
            f"scenario {name!r} from {shown:%Y-%m-%d %H:%M} would publish readings from the "
            "future at this speed (ingest refuses them); start it earlier"
        )
    step_ms = 60_000 if speed is None else max(1000, int(speed * 100))
    marker = demo_topic(config.site.id) if name == DEMO else None
    publisher = MqttPublisher(host, port, f"mw-sim-{name}-{config.site.id}", will_topic=marker)
    if marker is not None:  # at once, before the boards connect
        publisher(marker, json.dumps({"v": 1, "started": now_ms // 1000}), True)
    try:
        boards = build_boards(
            scenario, config, start_ms, seed, end_ms=end_ms, sample_period_s=SAMPLE_PERIOD_S,
            with_plugs=True,
        )  # fmt: skip
        unplug_unless_real_time(boards, speed, start_ms, end_ms)  # a plug has no clock of its own
        publisher.add_boards({board.device.id: board.will() for board in boards})
        return Simulation(boards, publisher, start_ms, end_ms, speed=speed, step_ms=step_ms).run(
            stop
        )
    finally:
        if marker is not None:
            publisher(marker, "", True)
        publisher.close()


def backfill(config: SiteConfig, seconds: float, seed: int, host: str, port: int,
             on_real_site: bool = False, stop: threading.Event | None = None,
             members: MemberTaps | None = None) -> Summary:  # fmt: skip
    """History for [now - seconds, now] through the normal pipeline, as fast as it goes; its
    boards end offline, stamped with the end of the backfill."""
    _refuse_where_it_would_mix(config, host, port, on_real_site)
    scenario = SCENARIOS["normal-week"]
    end_ms = int(time.time() * 1000)
    start_ms = end_ms - int(seconds * 1000)
    boards = build_boards(scenario, config, start_ms, seed, end_ms=end_ms, sample_period_s=SAMPLE_PERIOD_S,
                          telemetry_period_s=BACKFILL_TELEMETRY_PERIOD_S)  # fmt: skip
    client_id = f"mw-sim-backfill-{config.site.id}"
    # With members: they tap their cards in before machines with a reader switch on.
    publisher = (MqttPublisher(host, port, client_id) if members is None
                 else TappingPublisher(host, port, client_id, members))  # fmt: skip
    try:
        return Simulation(
            boards, publisher, start_ms, end_ms, speed=None, step_ms=BACKFILL_DELIVERY_MS
        ).run(stop)
    finally:
        publisher.close()


def start_demo(
    config: SiteConfig, host: str, port: int, seed: int, stop: threading.Event
) -> threading.Thread:
    """The living makerspace of `makerwatch up`: the demo scenario in real time, in a thread."""
    thread = threading.Thread(
        target=run_scenario,
        args=(config, DEMO, 1.0, seed, host, port, stop),
        name="simulation",
        daemon=True,
    )
    thread.start()
    return thread
