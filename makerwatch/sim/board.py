"""A simulated board: the firmware's own Agent, fed by a simulated machine on a simulated clock."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from typing import Any

from firmware.core import config as board_settings
from firmware.core import encoder
from firmware.core.agent import Agent
from firmware.core.state import OFF
from makerwatch.core.site_config import Device
from makerwatch.sim.machine import SimulatedMachine

__all__ = ["Publish", "SimulatedBoard", "board_rng"]

Publish = Callable[[str, str, bool], None]


def board_rng(seed: int, device_id: str, purpose: str) -> random.Random:
    """A random stream per board and purpose, stable across runs and processes."""
    return random.Random(seed * 1_000_003 + zlib.crc32(f"{device_id}/{purpose}".encode()))


class SimulatedBoard:
    def __init__(self, site_id: str, device: Device, machine: SimulatedMachine, start_ms: int,
                 sample_period_s: float, telemetry_period_s: float | None = None) -> None:  # fmt: skip
        thresholds = device.effective_thresholds
        raw: dict[str, Any] = {
            "site": site_id,
            "device": device.id,
            "kind": device.kind.value,
            "sample_period_s": sample_period_s,
            "telemetry_period_s": telemetry_period_s or device.telemetry_period_s,
            "idle_above_w": thresholds.idle_above_w,
            "active_above_w": thresholds.active_above_w,
            "buffer_size": 5000,
        }
        settings, errors = board_settings.validate(raw)
        if errors:
            raise ValueError(f"{device.id}: {'; '.join(errors)}")
        sensors = ["sim_power"] + (["sim_temp"] if machine.profile.working_temp_c else [])
        self.device = device
        self.agent = Agent(settings, sensors)
        self.machine = machine
        self.sample_ms = int(sample_period_s * 1000)
        self.boot_ms = start_ms
        self.next_sample_ms = start_ms
        self.offline: list[tuple[int, int]] = []  # (from, to) epoch ms without network
        self.born = False

    def online(self, t_ms: int) -> bool:
        return not any(a <= t_ms < b for a, b in self.offline)

    def advance(self, until_ms: int) -> None:
        """Sample every sample period up to until_ms, as the board's main loop would."""
        agent = self.agent
        t = self.next_sample_ms
        while t < until_ms:
            if (
                self.machine.stretch_at(t) is None
                and agent.machine.state == OFF
                and agent.machine.settled()
            ):
                # Off and settled: nothing but the next reading can happen before the
                # machine switches on, so sample only then (the same readings a board
                # sends, to within one sample period).
                agent.sample(t - self.boot_ms, t, 0.0, self.machine.temp_c(t))
                due = self.boot_ms + agent.telemetry_due_ms()
                t = max(t + self.sample_ms, min(self.machine.next_change_ms(t), due))
                continue
            agent.sample(t - self.boot_ms, t, self.machine.power_w(t), self.machine.temp_c(t))
            t += self.sample_ms
        self.next_sample_ms = t

    def deliver(self, publish: Publish, t_ms: int) -> None:
        """What the board's network step does when it is connected."""
        if not self.online(t_ms):
            return
        send = _marked_simulated(publish)
        if not self.born:
            send(self.agent.topic("status"), self.agent.birth(-60, 100_000, t_ms), True)
            self.born = True
        self.agent.drain(send)

    def command(self, name: str, payload: bytes, t_ms: int) -> None:
        """A `cmd/<name>` from the broker, answered as the board's runtime answers it (its
        `identify` and `calibrate` events); what the agent refuses it reports itself."""
        action = self.agent.command(name, payload)
        if action is not None and action[0] == "identify":
            self.agent.event("identify", f"blinking {action[1]} s", t_ms)
        elif action is not None and action[0] == "calibrate":
            recent = [self.machine.power_w(t_ms - i * self.sample_ms) for i in range(3)]
            key, value, note, problem = board_settings.calibration(
                self.agent.settings, action[1], action[2], recent, self.machine.temp_c(t_ms)
            )
            if problem is not None:
                self.agent.event("config_rejected", "cmd/calibrate: " + problem, t_ms)
                return
            self.agent.settings[key] = value
            self.agent.event("config_applied", f"{key} {value} ({note})", t_ms)

    def will(self) -> tuple[str, str]:
        """(topic, payload) of the board's last will, as the firmware builds it: the retained
        `status` saying offline, which the broker publishes if the board's connection dies."""
        topic, payload, _qos, _retain = self.agent.will()
        return topic, _simulated(payload)

    def switch_off(self, publish: Publish, t_ms: int) -> int:
        """The simulation ends: a machine still on is switched off (a simulated machine does
        not outlive its simulation: its session ends, and no "went offline while on" alarm
        is raised for a machine that is not there). Returns when it is off."""
        machine = self.agent.machine
        if machine.state == OFF and machine.settled():
            return t_ms
        off_ms = t_ms + int(machine.min_dwell_ms) + 1
        for at_ms in (t_ms, off_ms):
            self.agent.sample(at_ms - self.boot_ms, at_ms, 0.0, None)
        self.agent.drain(_marked_simulated(publish))
        return off_ms

    def stop(self, publish: Publish, t_ms: int) -> None:
        """The board stops (the demo, a scenario or a backfill ends): it says so, as a real
        board's broker would with its last will, stamped with when it stopped."""
        offline = encoder.status(False, epoch_ms=t_ms)  # the will's payload, with its time
        publish(self.agent.topic("status"), _simulated(offline), True)


def _marked_simulated(publish: Publish) -> Publish:
    """Every message says it is simulated (`"sim": true`), so ingest keeps its data
    apart from a real site's; the board's own JSON is otherwise left as it is."""

    def send(topic: str, payload: str, retain: bool) -> None:
        publish(topic, _simulated(payload), retain)

    return send


def _simulated(payload: str) -> str:
    if payload.startswith("{") and payload.endswith("}") and payload != "{}":
        return payload[:-1] + ',"sim":true}'
    return payload
