"""The off / idle / active state machine: thresholds, hysteresis, dwell, no flapping."""

from firmware.core.state import ACTIVE, IDLE, OFF, StateMachine
from tests.firmware.core.expect import Noise, raises


def run(machine, powers, step_ms=1000, start_ms=0):
    """Feed one sample per step; return the list of (time, new state) changes."""
    changes = []
    for i, power in enumerate(powers):
        now = start_ms + i * step_ms
        new = machine.update(power, now)
        if new is not None:
            changes.append((now, new))
    return changes


def test_states_follow_power_after_the_dwell():
    """Test off -> idle -> active -> off, each after min_dwell of the new level."""
    machine = StateMachine(2, 15, hysteresis=0.2, min_dwell_ms=3000)
    changes = run(machine, [0] * 3 + [5] * 5 + [40] * 5 + [0] * 5)
    assert changes == [(6000, IDLE), (11000, ACTIVE), (16000, OFF)]


def test_short_spike_does_not_change_state():
    """Test that a burst shorter than the dwell leaves the state alone."""
    machine = StateMachine(2, 15, min_dwell_ms=3000)
    assert run(machine, [0, 0, 50, 50, 0, 0, 0]) == []
    assert machine.state == OFF


def test_noise_around_the_threshold_does_not_flap():
    """Test that power jittering around active_above_w changes state at most once."""
    noise = Noise(7)
    machine = StateMachine(2, 15, hysteresis=0.2, min_dwell_ms=5000)
    run(machine, [5] * 10)  # settle in idle
    assert machine.state == IDLE
    changes = run(machine, [15 + noise.uniform(-2.5, 2.5) for _ in range(600)], start_ms=10000)
    assert len(changes) <= 1, changes


def test_hysteresis_keeps_active_through_small_dips():
    """Test that once active, dips that stay above 80 % of the threshold keep it active."""
    machine = StateMachine(2, 15, hysteresis=0.2, min_dwell_ms=0)
    run(machine, [40])
    assert machine.state == ACTIVE
    assert run(machine, [13, 12.5, 14], start_ms=1000) == []
    assert run(machine, [11], start_ms=5000) == [(5000, IDLE)]


def test_thresholds_must_be_ordered():
    """Test that idle_above_w must be below active_above_w."""
    raises(ValueError, StateMachine, 15, 2)


def test_a_change_reports_the_state_left_and_its_duration():
    """Test that each change knows the previous state and how long it lasted."""
    machine = StateMachine(2, 15, min_dwell_ms=0)
    machine.update(40, 1000)
    assert (machine.previous, machine.previous_duration_ms) == (
        OFF,
        None,
    )  # off since boot: unknown
    machine.update(5, 61000)
    assert (machine.previous, machine.previous_duration_ms) == (ACTIVE, 60000)
