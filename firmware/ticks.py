# MicroPython's millisecond ticks, with a CPython fallback for host runs and the
# simulator. The one place that knows the two runtimes' clocks differ.
import time

try:
    from time import sleep_ms, sleep_us, ticks_add, ticks_diff, ticks_ms, ticks_us
except ImportError:  # CPython (checked against MicroPython's stubs, so its variants differ)

    def ticks_ms():  # type: ignore[misc]
        return int(time.monotonic() * 1000)  # type: ignore[attr-defined]

    def ticks_us():  # type: ignore[misc]
        return int(time.monotonic() * 1000000)  # type: ignore[attr-defined]

    def ticks_diff(a, b):  # type: ignore[misc]
        return a - b

    def ticks_add(a, b):  # type: ignore[misc]
        return a + b

    def sleep_ms(ms):  # type: ignore[misc]
        time.sleep(ms / 1000)

    def sleep_us(us):  # type: ignore[misc]
        time.sleep(us / 1000000)


_EPOCH_OFFSET_S = 946684800 if time.gmtime(0)[0] == 2000 else 0  # boards with a 2000 epoch


def epoch_ms():
    """UTC milliseconds since 1970 from the RTC (meaningful once NTP has set it)."""
    return time.time_ns() // 1000000 + _EPOCH_OFFSET_S * 1000


class Monotonic:
    """Milliseconds since boot that never wrap (ticks_ms wraps after ~12 days on ESP32)."""

    def __init__(self):
        self._last = ticks_ms()
        self._total = 0

    def now_ms(self):
        current = ticks_ms()
        self._total += ticks_diff(current, self._last)
        self._last = current
        return self._total
