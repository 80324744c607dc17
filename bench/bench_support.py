"""What the benchmarks share: a throwaway Mosquitto and InfluxDB, and percentiles."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port

__all__ = ["percentile", "temporary_stack"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@contextlib.contextmanager
def temporary_stack() -> Iterator[tuple[EmbeddedMosquitto, EmbeddedInfluxDB]]:
    """The system's Mosquitto and InfluxDB on free ports, with data in a temporary folder."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedMosquitto(free_port(), Path(tmp) / "mq") as mq,
        EmbeddedInfluxDB(free_port(), Path(tmp) / "ix") as ix,
    ):
        yield mq, ix
