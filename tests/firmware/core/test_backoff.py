"""Reconnect backoff: exponential, capped, jittered, reset on success."""

from firmware.core.backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter():
    """Test that each delay lies in [step/2, step] and steps double to the cap."""
    low = Backoff(lambda: 0.0, first_ms=1000, max_ms=8000)
    high = Backoff(lambda: 0.999999, first_ms=1000, max_ms=8000)
    assert [low.next_ms() for _ in range(6)] == [500, 1000, 2000, 4000, 4000, 4000]
    assert [high.next_ms() for _ in range(5)] == [999, 1999, 3999, 7999, 7999]


def test_without_jitter_each_delay_is_the_step_itself():
    """Test that without a random function (the server's loops) the delays are first,
    twice that and so on up to the cap, and read in seconds too."""
    backoff = Backoff(first_ms=500, max_ms=30000)
    assert [backoff.next_ms() for _ in range(8)] == [
        500,
        1000,
        2000,
        4000,
        8000,
        16000,
        30000,
        30000,
    ]
    backoff.reset()
    assert backoff.next_s() == 0.5


def test_reset_starts_again_from_the_first_step():
    """Test that a successful connection resets the delay."""
    backoff = Backoff(lambda: 0.0, first_ms=1000, max_ms=8000)
    for _ in range(4):
        backoff.next_ms()
    backoff.reset()
    assert backoff.next_ms() == 500


def test_the_monotonic_clock_survives_the_ticks_wrapping_around():
    """Test that milliseconds since boot keep counting when ticks_ms wraps (every 2**30 ms on
    MicroPython, about 12 days), with MicroPython's own ticks_diff arithmetic."""
    from firmware import ticks

    period = 1 << 30
    now = [period - 100]

    def wrapped_diff(a, b):
        return ((a - b + period // 2) & (period - 1)) - period // 2

    saved = (ticks.ticks_ms, ticks.ticks_diff)
    ticks.ticks_ms, ticks.ticks_diff = (lambda: now[0]), wrapped_diff
    try:
        clock = ticks.Monotonic()
        now[0] = (period - 100 + 60) % period
        assert clock.now_ms() == 60
        now[0] = (period - 100 + 250) % period  # past the wrap: ticks_ms went back to 150
        assert now[0] == 150
        assert clock.now_ms() == 250
    finally:
        ticks.ticks_ms, ticks.ticks_diff = saved
