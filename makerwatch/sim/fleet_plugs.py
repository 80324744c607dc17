"""Smart plugs in the load fleet: plug devices of every firmware, in turn (Tasmota,
Shelly Gen2+, Shelly Gen1, Zigbee2MQTT, ESPHome), each reporting in its own format
through the simulator's plug (sim/plug.py), so the load benchmarks include them.

A plug's reading is what it reports once a telemetry period: one message, except a
Shelly Gen1's (power and energy on two topics). The fleet counts readings: each is one
`power_w` stored, the figure a benchmark compares with InfluxDB's count.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from makerwatch.core.site_config import Device
from makerwatch.sim.board import board_rng
from makerwatch.sim.machine import SimulatedMachine
from makerwatch.sim.pacing import paced
from makerwatch.sim.plug import SimulatedPlug
from makerwatch.sim.profiles import PROFILES
from makerwatch.sim.publisher import MqttPublisher

__all__ = ["fleet_plugs", "plug_power_topics", "plug_worker", "start_plugs"]

FIRMWARE = ("tasmota", "shelly", "shelly_gen1", "zigbee2mqtt", "esphome")
PERIOD_S = 1.0


def _source(firmware: str, n: int) -> dict[str, Any]:
    """Topics of the plug's own, unique in the fleet (across its sites too)."""
    return {
        "tasmota": {"type": "tasmota", "topic": f"fleet_tasmota_{n:04d}"},
        "shelly": {"type": "shelly", "prefix": f"fleet-shellyplus-{n:04d}"},
        "shelly_gen1": {"type": "shelly_gen1", "id": f"fleet-shellyplug-{n:04d}"},
        "zigbee2mqtt": {"type": "zigbee2mqtt", "friendly_name": f"fleet/plug-{n:04d}"},
        "esphome": {"type": "esphome", "node": f"fleet-esphome-{n:04d}"},
    }[firmware]


def fleet_plugs(count: int, sites: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(site, the device as a site file gives it) for each plug, firmware in turn,
    spread evenly over the sites."""
    return [
        (sites[i % len(sites)], {
            "id": f"plug-{i + 1:04d}", "name": f"plug-{i + 1:04d}", "kind": "other",
            "telemetry_period_s": PERIOD_S, "source": _source(FIRMWARE[i % len(FIRMWARE)], i + 1),
        })
        for i in range(count)
    ]  # fmt: skip


def plug_power_topics(plugs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The topic that carries each plug's power: one message a reading on it."""
    plug_devices = [Device.model_validate(device) for _, device in plugs]
    return [_plug(device, 0, random.Random(0)).reading(0, 0.0)[0][0] for device in plug_devices]


def _plug(device: Device, start_ms: int, rng: random.Random) -> SimulatedPlug:
    """The simulator's plug; its machine is idle, the fleet sets the power it reports."""
    machine = SimulatedMachine(PROFILES[device.kind], [], rng)
    return SimulatedPlug(device, machine, start_ms, "UTC")


def plug_worker(host: str, port: int, plugs: list[tuple[str, dict[str, Any]]], rate: float,
                readings: int, seed: int, worker: int) -> tuple[Counter[str], float]:  # fmt: skip
    """Publish `readings` plug readings at `rate` a second, the plugs in turn; count per
    site what the broker acknowledged."""
    start_ms = int(time.time() * 1000)
    fleet = []
    for site, device in plugs:
        rng = board_rng(seed, device["id"], "fleet")
        fleet.append((site, _plug(Device.model_validate(device), start_ms, rng), rng))
    publisher = MqttPublisher(host, port, f"mw-fleet-plugs-{worker}-{seed}")
    sent: Counter[str] = Counter()
    start = time.monotonic()
    for n in paced(readings, rate):
        site, plug, rng = fleet[n % len(fleet)]
        power_w = rng.uniform(0, 120)
        plug.energy_wh += power_w * PERIOD_S / 3600
        # Its own clock a period a turn, as the boards' (fleet.py): Tasmota's Time has
        # whole seconds, and two readings of one time would be one point.
        at_ms = start_ms + (n // len(fleet)) * int(PERIOD_S * 1000)
        for topic, payload in plug.reading(at_ms, power_w):
            publisher(topic, payload, False)
        sent[site] += 1
    publisher.close()  # waits for every acknowledgement
    return sent, time.monotonic() - start


def start_plugs(host: str, port: int, count: int, sites: list[str], rate: float, seconds: float,
                seed: int) -> Future[tuple[Counter[str], float]]:  # fmt: skip
    """`count` plugs publishing beside the boards, on a thread of their own."""
    pool = ThreadPoolExecutor(1)
    plugs = fleet_plugs(count, sites)
    run = pool.submit(plug_worker, host, port, plugs, rate, int(rate * seconds), seed, 0)
    pool.shutdown(wait=False)  # the run goes on; its thread ends with it
    return run
