"""The local safety timer: relay off after the maximum on-time, without the network."""

from firmware.core.safety import SafetyTimer


def test_switches_off_after_the_maximum_on_time():
    """Test that the timer fires once the relay has been on for max_on_ms."""
    timer = SafetyTimer(60000)
    assert not timer.must_switch_off(True, 0)
    assert not timer.must_switch_off(True, 59999)
    assert timer.must_switch_off(True, 60000)


def test_turning_off_restarts_the_count():
    """Test that an off period resets the on-time."""
    timer = SafetyTimer(60000)
    timer.must_switch_off(True, 0)
    timer.must_switch_off(False, 50000)
    assert not timer.must_switch_off(True, 100000)
    assert timer.must_switch_off(True, 160000)


def test_zero_means_no_limit():
    """Test that max_on_ms = 0 never fires."""
    assert not SafetyTimer(0).must_switch_off(True, 10**9)
