"""Messages the broker dropped, which nothing else would notice: Mosquitto drops a
QoS 1 message for a persistent session whose queue is full (`max_queued_messages`),
acknowledged to the board and never delivered. Its running count is on a $SYS topic;
ingest follows it, exports it as a metric, and tells staff when it grows."""

from __future__ import annotations

__all__ = ["BrokerDrops"]


class BrokerDrops:
    def __init__(self) -> None:
        self.total: int | None = None  # the broker's count since it started, as last seen

    def observe(self, payload: bytes) -> int:
        """The count from its $SYS message; returns how many are new since the last one
        (at the first, all of them: drops before ingest started were not seen either).
        A broker restart starts its count again from zero."""
        try:
            total = int(payload.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            return 0
        new = total if self.total is None or total < self.total else total - self.total
        self.total = total
        return new
