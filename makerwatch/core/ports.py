"""The two small interfaces features are joined by, so that no feature imports
another: "store these points" and "publish this". The ingest writer and the MQTT
source implement them; `makerwatch.app` plugs them into the alert service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from makerwatch.core.points import Point

__all__ = ["PointSink", "Publisher"]


class PointSink(Protocol):
    async def store(self, points: Sequence[Point]) -> None:
        """Queue points for InfluxDB that belong to no board message (alert history)."""


class Publisher(Protocol):
    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        """Publish with QoS 1; while disconnected, log and drop rather than raise."""
