"""Reconnect backoff: exponential, capped, jittered, reset on success."""

from firmware.core.backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter():
    """Test that each delay lies in [step/2, step] and steps double to the cap."""
    low = Backoff(lambda: 0.0, first_ms=1000, max_ms=8000)
    high = Backoff(lambda: 0.999999, first_ms=1000, max_ms=8000)
    assert [low.next_ms() for _ in range(6)] == [500, 1000, 2000, 4000, 4000, 4000]
    assert [high.next_ms() for _ in range(5)] == [999, 1999, 3999, 7999, 7999]


def test_reset_starts_again_from_the_first_step():
    """Test that a successful connection resets the delay."""
    backoff = Backoff(lambda: 0.0, first_ms=1000, max_ms=8000)
    for _ in range(4):
        backoff.next_ms()
    backoff.reset()
    assert backoff.next_ms() == 500
