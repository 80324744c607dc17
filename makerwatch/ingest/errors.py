"""The ingest error hierarchy: each error names the thing that went wrong."""

from __future__ import annotations

from makerwatch.core.errors import MakerwatchError
from makerwatch.core.protocol import DeadLetterReason

__all__ = ["DecodeError", "IngestError", "SinkError", "SinkRejectedError"]


class IngestError(MakerwatchError):
    """Base of every error the ingest service raises on purpose."""


class DecodeError(IngestError):
    """A message that cannot be stored; counted under `reason` and dead-lettered."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason  # a short, stable key for counters
        self.detail = detail  # a sentence naming the topic, field and value
        self.payload: bytes | None = None  # the refused part, when not the whole message


class SinkError(IngestError):
    """InfluxDB could not be reached or failed; the write is retried."""


class SinkRejectedError(SinkError):
    """InfluxDB refused the data itself (HTTP 4xx); retrying cannot help."""

    def __init__(self, url: str, status: int, text: str) -> None:
        super().__init__(f"{url} answered {status}: {text}")
        self.status = status
        self.text = text
