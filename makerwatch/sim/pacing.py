"""Publishing at a fixed rate: the load fleet's boards and plugs keep the same pace."""

from __future__ import annotations

import time
from collections.abc import Iterator

__all__ = ["paced"]


def paced(count: int, rate: float) -> Iterator[int]:
    """0 to count - 1, each no sooner than its turn at `rate` a second from the first."""
    start = time.monotonic()
    for n in range(count):
        ahead_s = start + n / rate - time.monotonic()
        if ahead_s > 0:
            time.sleep(ahead_s)  # pacing the publish rate, not waiting for a condition
        yield n
