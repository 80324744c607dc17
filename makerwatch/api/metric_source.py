"""What /metrics reports: the service's counters by name, and what the HTTP API reads
of the running service at each scrape. Rendering them (prometheus_client,
makerwatch/api/metrics.py) is loaded at the first scrape, not at rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["COUNTERS", "PREFIX", "MetricSource"]

PREFIX = "makerwatch"

# counter (a field of the ingest counters) -> help text. One list: the exported
# names are these with `makerwatch_` before and `_total` after.
COUNTERS: dict[str, str] = {
    "messages_received": "Board messages received from the broker.",
    "messages_stored": "Board messages whose points were written or spooled, then acknowledged.",
    "points_written": "Points written to InfluxDB.",
    "write_batches": "Batches written to InfluxDB.",
    "write_retries": "Failed InfluxDB writes that were retried.",
    "mqtt_reconnects": "Times the broker connection was lost and retried.",
    "sessions_written": "Usage sessions written.",
    "spooled_batches": "Batches put in the on-disk spool while InfluxDB could not take them.",
    "replayed_batches": "Spooled batches written to InfluxDB later.",
    "spool_full": "Times a batch was held at the broker because the spool was full.",
    "spool_rejected_points": "Spooled points InfluxDB refused on replay (dropped, logged).",
    "spool_errors": "Spool reads or writes the disk refused (retried; messages held at the broker).",
}


class MetricSource(Protocol):
    """What /metrics reads at each scrape."""

    @property
    def site_id(self) -> str: ...
    @property
    def mqtt_connected(self) -> bool: ...
    @property
    def unacknowledged(self) -> int: ...
    @property
    def spool_bytes(self) -> int: ...
    @property
    def broker_dropped(self) -> int: ...

    def counter_values(self) -> Mapping[str, object]: ...
    def active_alerts(self) -> list[dict[str, object]]: ...
    def notification_counts(self) -> Mapping[str, Mapping[str, int]]: ...
    def notification_drops(self) -> Mapping[tuple[str, str], int]: ...
