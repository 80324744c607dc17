"""What each ingest stage received, wrote, dropped and retried (STYLE.md 6)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["IngestCounters"]


@dataclass
class IngestCounters:
    messages_received: int = 0
    messages_stored: int = 0  # acknowledged after their points were written
    points_written: int = 0
    write_batches: int = 0
    write_retries: int = 0
    mqtt_reconnects: int = 0
    sessions_written: int = 0
    write_seconds_sum: float = 0.0  # time in InfluxDB writes, for the write latency summary
    write_seconds_count: int = 0
    spooled_batches: int = 0  # InfluxDB could not take them; on disk, acknowledged
    replayed_batches: int = 0
    spool_full: int = 0  # times a batch was held because the spool was full
    spool_rejected_points: int = 0  # spooled points InfluxDB refused on replay
    dead_lettered: Counter[str] = field(default_factory=Counter)  # by reason

    def snapshot(self) -> dict[str, object]:
        return {
            "messages_received": self.messages_received,
            "messages_stored": self.messages_stored,
            "points_written": self.points_written,
            "write_batches": self.write_batches,
            "write_retries": self.write_retries,
            "mqtt_reconnects": self.mqtt_reconnects,
            "sessions_written": self.sessions_written,
            "spooled_batches": self.spooled_batches,
            "replayed_batches": self.replayed_batches,
            "spool_full": self.spool_full,
            "dead_lettered": dict(self.dead_lettered),
        }
