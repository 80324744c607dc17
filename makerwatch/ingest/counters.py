"""What each ingest stage received, wrote, dropped and retried."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["IngestCounters"]


@dataclass
class IngestCounters:
    messages_received: int = 0
    messages_stored: int = 0  # acknowledged after their points were written or spooled
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
    spool_errors: int = 0  # spool reads and writes the disk refused (retried)
    dead_lettered: Counter[str] = field(default_factory=Counter)  # by reason

    def snapshot(self) -> dict[str, object]:
        """Every counter, for the log line ingest writes when it stops."""
        return dict(vars(self))
