"""Many simulated boards for load: N boards across sites at a bounded total publish rate.

Each worker process drives its share of the boards through the firmware's own
Agent and counts what the broker acknowledged, so a benchmark can check loss.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass

from firmware.core import config as board_settings
from firmware.core.agent import Agent
from makerwatch.sim.board import board_rng
from makerwatch.sim.fleet_plugs import start_plugs
from makerwatch.sim.pacing import paced
from makerwatch.sim.publisher import MqttPublisher

__all__ = ["FleetReport", "fleet_devices", "run_fleet"]

PERIOD_MS = 1000  # each board's telemetry period on its own (synthetic) clock


@dataclass
class FleetReport:
    sent: Counter[str]  # acknowledged messages per site
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


def fleet_devices(count: int, sites: list[str]) -> list[tuple[str, str]]:
    """(site, device id) for each board, spread evenly over the sites."""
    return [(sites[i % len(sites)], f"sim-{i + 1:04d}") for i in range(count)]


def _worker(host: str, port: int, boards: list[tuple[str, str]], rate: float, messages: int,
            seed: int, worker: int) -> tuple[Counter[str], float]:  # fmt: skip
    agents = []
    for site, device in boards:
        settings, errors = board_settings.validate(
            {"site": site, "device": device, "telemetry_period_s": 1}
        )
        assert not errors, errors
        agents.append((site, Agent(settings, ["sim_power"]), board_rng(seed, device, "fleet")))
    publisher = MqttPublisher(host, port, f"mw-fleet-{worker}-{seed}")
    sent: Counter[str] = Counter()
    start = time.monotonic()
    for n in paced(messages, rate):
        site, agent, rng = agents[n % len(agents)]
        turn = n // len(agents)
        agent.sample(turn * PERIOD_MS, int(time.time() * 1000), power_w=rng.uniform(0, 120))
        agent.drain(publisher)
        sent[site] += 1
    publisher.close()  # waits for every acknowledgement
    return sent, time.monotonic() - start


def run_fleet(host: str, port: int, devices: int, rate: float, seconds: float, sites: list[str],
              processes: int = 1, seed: int = 1, plugs: int = 0) -> FleetReport:  # fmt: skip
    """Publish `rate` x `seconds` telemetry messages from `devices` boards; report what was
    sent. `plugs` smart plugs (sim/fleet_plugs.py) report beside them, each as often as a
    board, and their readings are counted too."""
    plug_run = start_plugs(host, port, plugs, sites, rate * plugs / devices, seconds, seed) if plugs else None  # fmt: skip
    boards = fleet_devices(devices, sites)
    total = int(rate * seconds)
    shares = [boards[i::processes] for i in range(processes)]
    counts = [total // processes + (1 if i < total % processes else 0) for i in range(processes)]
    jobs = [
        (host, port, share, rate / processes, count, seed, i)
        for i, (share, count) in enumerate(zip(shares, counts, strict=True))
    ]
    started = time.monotonic()
    if processes == 1:
        results = [_worker(*jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.starmap(_worker, jobs)
    sent: Counter[str] = Counter()
    if plug_run is not None:
        results.append(plug_run.result())
    for counter, _ in results:
        sent.update(counter)
    return FleetReport(sent, time.monotonic() - started)
