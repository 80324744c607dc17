"""A simulated smart plug: a simulated machine behind a plug that reports in its own
firmware's format (Tasmota, Shelly Gen2+, Shelly Gen1, Zigbee2MQTT, ESPHome), as
docs/smart-plugs.md describes them. It has the simulated board's interface, so a
scenario runs plugs and boards alike.

The plug side is written here from each firmware's documentation, apart from ingest's
decoders (makerwatch/sources/), as a real plug is: the sources' tests check one
against the other. JSON formats carry `"sim": true`, as the boards' messages do, so
their data is kept apart; Gen1's and ESPHome's plain-text values cannot carry it.

A plug keeps no readings while offline and most have no clock of their own: ingest
stamps them as they arrive, so a plug runs only in a simulation at real time; in any
other (a scenario sped up, a backfill) it is off the network throughout (`unplugged`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from makerwatch.core.site_config import Device
from makerwatch.core.source_settings import (
    EsphomeSource,
    ShellyGen1Source,
    ShellySource,
    TasmotaSource,
    Zigbee2MqttSource,
)
from makerwatch.sim.board import Publish
from makerwatch.sim.machine import SimulatedMachine

__all__ = ["SimulatedPlug", "unplug_unless_real_time"]

MAINS_V = 230.0
# After the last reading of a switched-off machine: the board's state dwell and a second.
OFF_AFTER_MS = 6_000


def unplug_unless_real_time(
    boards: Sequence[object], speed: float | None, start_ms: int, end_ms: int
) -> None:
    """Plugs in a run that is not at real time are off the network throughout."""
    if speed == 1.0:
        return
    for board in boards:
        if isinstance(board, SimulatedPlug):
            board.unplugged(start_ms, end_ms)


class SimulatedPlug:
    def __init__(
        self, device: Device, machine: SimulatedMachine, start_ms: int, timezone: str
    ) -> None:
        assert device.source is not None, f"{device.id}: a plug needs its source"
        self.device = device
        self.machine = machine
        self.period_ms = int(device.telemetry_period_s * 1000)
        self.next_report_ms = start_ms
        self.energy_wh = 0.0
        self.zone = ZoneInfo(timezone)
        self.offline: list[tuple[int, int]] = []  # (from, to) epoch ms without network
        self.born = False
        self.told_offline = False

    def unplugged(self, start_ms: int, end_ms: int) -> None:
        """Off the network for the whole run: it says so once, and nothing else."""
        self.offline = [(start_ms, end_ms + 1)]

    def online(self, t_ms: int) -> bool:
        return not any(a <= t_ms < b for a, b in self.offline)

    def advance(self, until_ms: int) -> None:
        """Nothing to sample ahead: a plug reports its meter once a telemetry period."""

    def deliver(self, publish: Publish, t_ms: int) -> None:
        while self.next_report_ms <= t_ms:
            at_ms = self.next_report_ms
            power_w = self.machine.power_w(at_ms)
            self.energy_wh += power_w * self.period_ms / 3_600_000
            self.next_report_ms += self.period_ms
            if not self.online(at_ms):
                if not self.told_offline:  # its last will, as the broker would publish it
                    publish(*self._status(False), True)
                    self.told_offline = True
                self.born = False  # it says online when back
                continue
            self.told_offline = False
            if not self.born:
                publish(*self._status(True), True)
                self.born = True
            for topic, payload in self.reading(at_ms, power_w):
                publish(topic, payload, False)

    def will(self) -> tuple[str, str]:
        return self._status(False)

    def switch_off(self, publish: Publish, t_ms: int) -> int:
        """The simulation ends: the machine draws nothing, long enough to read as off."""
        if not self.online(t_ms):
            return t_ms
        for at_ms in (t_ms, t_ms + OFF_AFTER_MS):
            for topic, payload in self.reading(at_ms, 0.0):
                publish(topic, payload, False)
        return t_ms + OFF_AFTER_MS

    def stop(self, publish: Publish, t_ms: int) -> None:
        publish(*self._status(False), True)

    def _status(self, online: bool) -> tuple[str, str]:
        """The plug's birth (online) or last will (offline), retained by its firmware."""
        source = self.device.source
        if isinstance(source, TasmotaSource):
            return f"tele/{source.topic}/LWT", "Online" if online else "Offline"
        if isinstance(source, ShellySource):
            return f"{source.prefix}/online", json.dumps(online)
        if isinstance(source, ShellyGen1Source):
            return f"shellies/{source.id}/online", json.dumps(online)
        if isinstance(source, Zigbee2MqttSource):
            topic = f"{source.base_topic}/{source.friendly_name}/availability"
            return topic, json.dumps({"state": "online" if online else "offline"})
        assert isinstance(source, EsphomeSource)
        return f"{source.node}/status", "online" if online else "offline"

    def reading(self, t_ms: int, power_w: float) -> list[tuple[str, str]]:
        source = self.device.source
        current_a = round(power_w / MAINS_V, 3)
        power_w = round(power_w, 1)
        if isinstance(source, TasmotaSource):
            local = datetime.fromtimestamp(t_ms / 1000, self.zone).replace(tzinfo=None)
            energy = {"Total": round(self.energy_wh / 1000, 3), "Power": power_w,
                      "Voltage": MAINS_V, "Current": current_a}  # fmt: skip
            body = {"Time": local.isoformat(timespec="seconds"), "ENERGY": energy, "sim": True}
            return [(f"tele/{source.topic}/SENSOR", json.dumps(body))]
        if isinstance(source, ShellySource):
            status = {"id": source.switch, "output": True, "apower": power_w, "voltage": MAINS_V,
                      "current": current_a, "aenergy": {"total": round(self.energy_wh, 3)}, "sim": True}  # fmt: skip
            return [(f"{source.prefix}/status/switch:{source.switch}", json.dumps(status))]
        if isinstance(source, ShellyGen1Source):
            relay = f"shellies/{source.id}/relay/{source.relay}"
            watt_minutes = round(self.energy_wh * 60)
            return [(f"{relay}/power", f"{power_w:.2f}"), (f"{relay}/energy", str(watt_minutes))]
        if isinstance(source, Zigbee2MqttSource):
            body = {"state": "ON", "power": power_w, "voltage": MAINS_V, "current": current_a,
                    "energy": round(self.energy_wh / 1000, 3), "sim": True}  # fmt: skip
            return [(f"{source.base_topic}/{source.friendly_name}", json.dumps(body))]
        assert isinstance(source, EsphomeSource)
        return (
            [(f"{source.node}/sensor/{source.power}/state", f"{power_w:.1f}")]
            if source.power
            else []
        )
