# Helpers for core tests that run under CPython (pytest) and MicroPython alike.


def raises(exc_type, fn, *args):
    """Call fn(*args) and return the exc_type it raised; fail if it did not."""
    try:
        fn(*args)
    except exc_type as exc:
        return exc
    raise AssertionError("expected %s" % exc_type.__name__)


class Noise:
    """Deterministic pseudo-random numbers (an LCG), the same on every runtime."""

    def __init__(self, seed=12345):
        self.state = seed

    def uniform(self, low, high):
        self.state = (1103515245 * self.state + 12345) % 2147483648
        return low + (high - low) * self.state / 2147483648
