"""From current to state, for every machine profile: a 50 Hz current waveform as the board's
ADC would see it (bias, noise, 12-bit steps), the firmware's own CT maths and state machine;
and the same through a PZEM-004T model. The sensor a site file may choose for a machine
(check-config refuses one that cannot resolve its thresholds) detects every state the
machine goes through, an iron idling at 3 W in its stand included."""

from __future__ import annotations

import math
import random

import pytest

from firmware.core import config as board_settings
from firmware.core.power import power_w, rms_current_a
from firmware.core.state import StateMachine
from makerwatch.core.site_config import Device, MachineKind
from makerwatch.sim.profiles import PROFILES
from tests.sim.test_simulation import expected_states

MAINS_V, RATE_HZ, CYCLES = 220.0, 2000, 10
ADC_VOLTS_PER_STEP = 3.3 / 4095  # 12 bits over the 11 dB range
ADC_NOISE_V = 0.004  # a quiet board's noise: below the 10 mV the settings assume


def ct_reading(settings: dict[str, object], watts: float, rng: random.Random) -> float:
    """What a CT board reports for `watts`: a waveform on the ADC, then the firmware's maths."""
    amps_per_volt = float(settings["ct_amps_per_volt"]) / int(settings["ct_turns"])  # type: ignore[arg-type]
    peak_v = watts / MAINS_V * math.sqrt(2) / amps_per_volt
    samples = []
    for i in range(RATE_HZ // 50 * CYCLES):
        volts = 1.65 + peak_v * math.sin(2 * math.pi * 50 * i / RATE_HZ) + rng.gauss(0, ADC_NOISE_V)
        samples.append(round(volts / ADC_VOLTS_PER_STEP))  # what the ADC returns
    current = rms_current_a(samples, RATE_HZ, ADC_VOLTS_PER_STEP, amps_per_volt)
    return power_w(current, MAINS_V, 1.0, float(settings["ct_noise_floor_a"]))  # type: ignore[arg-type]


def pzem_reading(watts: float) -> float:
    """A PZEM-004T-10A: 0.1 W steps, nothing below its starting current of 0.01 A."""
    return round(watts, 1) if watts / MAINS_V >= 0.01 else 0.0


def states_seen(kind: MachineKind, read: object, rng: random.Random) -> set[str]:
    """Run one session of the profile (each level for a minute, then off) at 1 s readings."""
    thresholds = Device(id="x", name="x", kind=kind).effective_thresholds
    machine = StateMachine(thresholds.idle_above_w, thresholds.active_above_w, 0.2, 5000)
    profile = PROFILES[kind]
    levels = [lv for lv in (profile.warm_up, *profile.work, profile.cool_down) if lv is not None]
    seen = {machine.state}
    t_ms = 0
    for level in [*levels, None]:
        for _ in range(60):
            mean = sum(level.power_w) / 2 if level else 0.0
            watts = max(0.0, rng.gauss(mean, level.noise_w)) if level else 0.0
            machine.update(read(watts), t_ms)  # type: ignore[operator]
            seen.add(machine.state)
            t_ms += 1000
    assert machine.state == "off", "back to off once the machine is switched off"
    return seen


SENSORS = {
    "pzem": {"power_sensor": "pzem"},
    "ct-10-turns": {"power_sensor": "ct", "ct_model": "sct013-005", "ct_turns": 10},
}


@pytest.mark.parametrize("sensor", sorted(SENSORS))
@pytest.mark.parametrize("kind", list(MachineKind), ids=lambda k: k.value)
def test_every_profile_is_detected_from_current_to_state(kind: MachineKind, sensor: str) -> None:
    """Test that the readings a real sensor would give take the state machine through every
    state the profile implies."""
    settings, errors = board_settings.validate(SENSORS[sensor])
    assert errors == []
    rng = random.Random(f"{kind.value}/{sensor}")
    if sensor == "pzem":
        seen = states_seen(kind, pzem_reading, rng)
    else:
        seen = states_seen(kind, lambda w: ct_reading(settings, w, rng), rng)
    assert seen == expected_states(kind)


def test_an_idling_iron_reads_off_on_a_one_turn_clamp_which_is_why_it_is_refused() -> None:
    """Test the finding itself: 3 W through one turn of an SCT-013-005 reads as 0 W (so the
    site file refuses that sensor for a 2 W idle threshold), while a PZEM reads it."""
    settings, _ = board_settings.validate({"power_sensor": "ct", "ct_model": "sct013-005"})
    rng = random.Random(3)
    assert [ct_reading(settings, 3.0, rng) for _ in range(10)] == [0.0] * 10
    assert pzem_reading(3.0) == 3.0
    assert board_settings.resolvable_w(settings) > 2.0
