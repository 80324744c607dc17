"""Messages that cannot be stored: counted by reason, logged with a truncated
payload, and republished on the dead-letter topic for operators."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from makerwatch.core.ports import Publisher
from makerwatch.core.protocol import DEAD_LETTER_TOPIC, DeadLetter, DeadLetterReason
from makerwatch.ingest.counters import IngestCounters
from makerwatch.ingest.decode import Decoded
from makerwatch.ingest.errors import DecodeError

__all__ = ["DeadLetters", "MessageDecoder"]

log = logging.getLogger(__name__)

LOGGED_PAYLOAD_CHARS = 200
DEAD_LETTER_PAYLOAD_CHARS = 4096


def _shown(payload: bytes, limit: int) -> str:
    text = payload[: limit * 4].decode("utf-8", errors="backslashreplace")
    return text if len(text) <= limit else text[:limit] + "..."


class MessageDecoder(Protocol):
    """A site's decoder: our board's (ingest/decode.py), or the table of sources around it."""

    def decode(self, topic: str, payload: bytes, retained: bool = False) -> Decoded: ...


class DeadLetters:
    def __init__(
        self, publisher: Publisher, counters: IngestCounters, clock: Callable[[], float]
    ) -> None:
        self._publisher = publisher
        self._counters = counters
        self._clock = clock

    async def __call__(self, topic: str, payload: bytes, error: DecodeError) -> None:
        self._counters.dead_lettered[error.reason] += 1
        shown = _shown(payload, LOGGED_PAYLOAD_CHARS)
        log.warning(
            "dead-lettered (%s) %s payload=%r", error.reason.value, error.detail, shown,
            extra={"topic": topic, "reason": error.reason.value, "payload": shown},
        )  # fmt: skip
        record = DeadLetter(
            v=1,
            reason=error.reason,
            error=error.detail,
            topic=topic,
            payload=_shown(payload, DEAD_LETTER_PAYLOAD_CHARS),
            payload_bytes=len(payload),
            received_at=round(self._clock(), 3),
        )
        await self._publisher.publish(DEAD_LETTER_TOPIC, record.model_dump_json())

    async def refused(self, topic: str, payload: bytes, refused: list[DecodeError]) -> None:
        """What a decoded message could not store: the whole message, or a batch's bad
        readings one by one (each error carrying its own part as payload)."""
        for error in refused:
            await self(topic, error.payload or payload, error)

    async def internal_error(self, topic: str, payload: bytes, exc: Exception) -> None:
        """A fault of ours, shown by this message: logged with its traceback and
        dead-lettered, never a crash loop on a message the broker would redeliver."""
        log.exception("internal error on %s", topic, extra={"topic": topic})
        detail = f"{topic}: {type(exc).__name__}: {exc}"
        await self(topic, payload, DecodeError(DeadLetterReason.INTERNAL_ERROR, detail))
