"""A machine's state from its readings, for sources that never state it.

Our boards state their machine's state from the first reading and on every connect
(firmware 0.2.0 on). A board with older firmware states only changes, so a machine
that stays off would never be known to be off; a source that is not our board (a
smart plug) states nothing at all. For those, ingest runs the board's own logic
(firmware/core/agent.py with its state machine, thresholds, hysteresis and dwell)
on the readings as they are stored: one definition of off / idle / in use, on the
board and here, and the same state points (marked `derived`) for everything after.
"""

from __future__ import annotations

from firmware.core import config as board_settings
from firmware.core.agent import Agent
from makerwatch.core.points import FieldValue, Point
from makerwatch.core.protocol import (
    STATE_MEASUREMENT,
    STATUS_MEASUREMENT,
    TELEMETRY_MEASUREMENT,
    State,
)
from makerwatch.core.site_config import Device, SiteConfig
from makerwatch.core.usage import usage_segments

__all__ = ["STATES_FROM_FIRMWARE", "DerivedStates"]

# The first firmware that states its machine's state by itself (docs/protocol.md).
STATES_FROM_FIRMWARE = (0, 2, 0)


def _version(text: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in text.split(".")[:3])
    except ValueError:
        return None


class DerivedStates:
    def __init__(self, config: SiteConfig) -> None:
        self._devices = {d.id: d for d in config.devices}
        self._max_age_s = config.ingest.max_reading_age_s
        # Devices whose state ingest derives: from the start, a plug (it states none).
        self._agents: dict[str, Agent] = {d.id: _agent(d) for d in config.devices if d.source}

    def observe(self, points: list[Point], now: float) -> list[Point]:
        """Points just decoded (or known from a retained status) at server time `now`;
        returns the state points (and their usage segments) they imply for a source that
        states none."""
        derived: list[Point] = []
        for point in points:
            if point.measurement != TELEMETRY_MEASUREMENT:
                self._learn(point)
                continue
            if not self._agents:  # a site of boards alone: each states its own states
                continue
            agent = self._agents.get(point.tags.get("device", ""))
            power = point.fields.get("power_w")
            if agent is None or not isinstance(power, int | float):
                continue
            agent.sample(point.time_ms, point.time_ms, float(power))
            oldest_ms = round((now - self._max_age_s) * 1000)  # the oldest reading accepted
            while len(agent.states):
                state = State.model_validate_json(agent.states.peek(1)[0])
                agent.states.drop(1)
                derived.append(_state_point(point, state))
                derived += usage_segments(derived[-1], oldest_ms)
            agent.readings.drop(len(agent.readings))  # it keeps no readings: they are stored
        return derived

    def _learn(self, point: Point) -> None:
        """What a point other than a reading says of whether to derive its machine's state."""
        device = point.tags.get("device", "")
        if point.measurement == STATUS_MEASUREMENT and isinstance(point.fields.get("fw"), str):
            self._firmware(device, str(point.fields["fw"]))
        elif point.measurement == STATE_MEASUREMENT and not point.fields.get("derived"):
            # It states changes itself: from here on its own states are the truth (two
            # states of one change would count its hours twice).
            self._agents.pop(device, None)

    def _firmware(self, device_id: str, fw: str) -> None:
        """A board says which firmware it runs (its birth): derive for one that does not
        state its machine's state itself, stop for one that does."""
        device = self._devices.get(device_id)
        version = _version(fw)
        if device is None or version is None or version >= STATES_FROM_FIRMWARE:
            self._agents.pop(device_id, None)
        elif device_id not in self._agents:
            self._agents[device_id] = _agent(device)


def _agent(device: Device) -> Agent:
    thresholds = device.effective_thresholds
    raw = {
        **device.board,
        "site": "x",  # the agent's topics are not used: its messages become points here
        "device": device.id,
        "idle_above_w": thresholds.idle_above_w,
        "active_above_w": thresholds.active_above_w,
        "telemetry_period_s": device.telemetry_period_s,
    }
    settings, _ = board_settings.validate(raw)
    return Agent(settings)


def _state_point(reading: Point, state: State) -> Point:
    fields: dict[str, FieldValue] = {"state": state.state.value, "derived": True}
    if state.previous is not None:
        fields["previous"] = state.previous.value
    if state.previous_duration_s is not None:
        fields["previous_duration_s"] = float(state.previous_duration_s)
    fields["on_since_ms"] = round(state.on_since * 1000) if state.on_since is not None else 0
    at_ms = reading.time_ms if state.ts is None else round(state.ts * 1000)
    return Point(STATE_MEASUREMENT, dict(reading.tags), fields, at_ms)
