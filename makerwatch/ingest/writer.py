"""Batches points to InfluxDB and acknowledges each MQTT message only once it is stored.

A batch is flushed when it holds `batch_max_points`, its oldest message is
`batch_max_age_s` old, or the MQTT source has stopped reading because its window
of unacknowledged messages is full. Acknowledgements go out in arrival order,
after the write, so a crash at any moment leaves every unstored message with the
broker.

"Stored" is InfluxDB, or the spool (fsynced) in front of it: a batch goes to the
spool when InfluxDB cannot take it, and also when the writer lags (a batch is ready
while the one before it is still being written), so the broker's queue for ingest
stays short however slow InfluxDB is; the spool's replay then writes it out in
large batches (docs/ingest.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from makerwatch.core.points import Point
from makerwatch.core.protocol import DeadLetterReason
from makerwatch.core.site_config import IngestSettings
from makerwatch.ingest.counters import IngestCounters
from makerwatch.ingest.errors import DecodeError, SinkError, SinkRejectedError
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point
from makerwatch.ingest.source import Ack
from makerwatch.ingest.spool import Spool, SpoolError, SpoolFull

__all__ = ["BatchWriter", "DeadLetterSink"]

log = logging.getLogger(__name__)

DeadLetterSink = Callable[[str, bytes, DecodeError], Awaitable[None]]
Written = Callable[[list[Point]], Awaitable[None]]

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 15.0
LEAVING_TIMEOUT_S = 10.0


@dataclass(slots=True)
class _Message:
    topic: str
    payload: bytes
    points: Sequence[Point]
    lines: Sequence[str]
    ack: Ack
    from_board: bool = True  # counted as a stored message once written


def _no_ack() -> None:
    pass


class BatchWriter:
    def __init__(
        self,
        influx: InfluxClient,
        settings: IngestSettings,
        counters: IngestCounters,
        dead_letter: DeadLetterSink,
        written: Written | None = None,
        spool: Spool | None = None,
        drained: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._spool = spool
        self._drained = drained  # told when the spool has been written out
        self._flushing = 0  # messages in the batch being written right now
        self._influx = influx
        self._written = written  # told which points are stored, before their acknowledgement
        self._settings = settings
        self._counters = counters
        self._dead_letter = dead_letter
        self._pending: list[_Message] = []
        self._pending_points = 0
        self._oldest_at: float | None = None
        self._lagging = False  # a batch was due while the one before it was being written
        self._has_pending = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.write_failing: str | None = None  # InfluxDB's last write error, until one succeeds

    async def submit(self, topic: str, payload: bytes, points: Sequence[Point], ack: Ack) -> None:
        """Queue a message's points; `ack` runs once they (and all before them) are stored.

        A message without points (already dead-lettered) still waits its turn, so
        acknowledgements never overtake an earlier message still being written.
        """
        try:  # the common case: every point encodes
            lines = [encode_point(point) for point in points]
        except ValueError:  # one cannot be written: dead-letter it, keep the rest
            lines, points = await self._encode(topic, payload, points)
        if not lines and not self._pending and not self._flush_lock.locked():
            ack()
            return
        if self._queued(_Message(topic, payload, points, lines, ack)):
            await self.flush()

    def _queued(self, message: _Message) -> bool:
        """Queue a message; True if the batch is full and should be flushed now."""
        self._pending.append(message)
        self._pending_points += len(message.lines)
        if self._oldest_at is None:
            self._oldest_at = time.monotonic()
            self._has_pending.set()
        elif (
            self._flush_lock.locked()
            and self._oldest_at + self._settings.batch_max_age_s <= time.monotonic()
        ):
            self._lagging = True
        return self._pending_points >= self._settings.batch_max_points

    async def _encode(
        self, topic: str, payload: bytes, points: Sequence[Point]
    ) -> tuple[list[str], list[Point]]:
        """Line protocol for each point; one that cannot be written is dead-lettered."""
        lines, kept = [], []
        for point in points:
            try:
                lines.append(encode_point(point))
                kept.append(point)
            except ValueError as exc:
                error = DecodeError(DeadLetterReason.INTERNAL_ERROR, f"{topic}: {exc}")
                await self._dead_letter(topic, payload, error)
        return lines, kept

    async def store(self, points: Sequence[Point]) -> None:
        """Queue points that belong to no board message (alert history), in turn with the rest."""
        lines, kept = await self._encode("alert history", b"", points)
        if self._queued(_Message("alert history", b"", kept, lines, _no_ack, False)):
            await self.flush()

    def flush_soon(self) -> None:
        """Flush now, not at the batch's deadline (the MQTT source's window is full)."""
        if self._flush_lock.locked():
            self._lagging = True
        self._flush_now.set()

    async def run(self) -> None:
        """Flush each batch when its oldest message reaches the maximum age, or when asked."""
        while True:
            await self._has_pending.wait()
            if self._oldest_at is not None:
                due_in = self._oldest_at + self._settings.batch_max_age_s - time.monotonic()
                if due_in > 0:
                    with contextlib.suppress(TimeoutError):  # the batch deadline
                        await asyncio.wait_for(self._flush_now.wait(), due_in)
            self._flush_now.clear()
            try:
                await self.flush()
            except Exception:
                # The MQTT connection died under a dead-letter publish: the
                # unacknowledged messages come back from the broker.
                log.exception("flush failed; unacknowledged messages will be redelivered")

    async def flush_before_leaving(self) -> None:
        """Still connected at shutdown: write what is held and acknowledge it, or leave
        it with the broker if InfluxDB does not take it in time."""
        try:
            await asyncio.wait_for(self.flush(), LEAVING_TIMEOUT_S)
        except TimeoutError:
            log.warning("InfluxDB did not take the last batch in time; the broker keeps it")

    async def flush(self) -> None:
        if self._flush_lock.locked():  # this batch waits for the one being written
            self._lagging = True
        async with self._flush_lock:
            lagging, self._lagging = self._lagging, False
            batch, self._pending = self._pending, []
            self._flushing = len(batch)
            self._pending_points, self._oldest_at = 0, None
            self._has_pending.clear()
            if not batch:
                return
            lines = [line for message in batch for line in message.lines]
            if lines and await self._store(batch, lines, lagging) and self._written is not None:
                await self._written(
                    [p for message in batch if message.lines for p in message.points]
                )
            for message in batch:
                message.ack()
                if message.lines and message.from_board:
                    self._counters.messages_stored += 1
            self._flushing = 0

    async def _store(self, batch: list[_Message], lines: list[str], lagging: bool) -> bool:
        """Write the batch, or spool it while InfluxDB cannot take it or the writer
        lags; True if written.

        While anything is spooled, new batches join the spool, so order is kept.
        A full spool holds the batch (and its acknowledgements) until there is room.
        Without a spool, the write is retried until InfluxDB takes it.
        """
        if self._spool is None:
            await self._write_narrowing(batch, lines, retry=True)
            return True
        delay = RETRY_FIRST_S
        while True:
            if not self._spool.pending and not lagging:
                try:
                    await self._write_narrowing(batch, lines, retry=False)
                    return True
                except SinkError as exc:
                    self._counters.write_retries += 1
                    log.warning("InfluxDB write failed, spooling the batch: %s", exc)
                    with contextlib.suppress(SinkError):
                        await self._influx.ensure_database()  # gone missing, or never made
            try:
                await self._spool.append(lines)
                self._counters.spooled_batches += 1
                return False
            except SpoolFull as exc:
                self._counters.spool_full += 1
                log.error("%s; holding %d messages unacknowledged", exc, len(batch))
            except SpoolError as exc:
                self._counters.spool_errors += 1
                log.error(
                    "spool write failed: %s; holding %d messages unacknowledged", exc, len(batch)
                )
            await asyncio.sleep(delay)  # backoff while the spool drains or its disk recovers
            delay = min(delay * 2, RETRY_MAX_S)
            lagging = False  # the spool cannot take it: InfluxDB may

    async def _write_narrowing(self, batch: list[_Message], lines: list[str], retry: bool) -> None:
        """Write the batch; if InfluxDB refuses part of it, write the rest and dead-letter that part."""
        try:
            await (self._write_retrying(lines) if retry else self._write_once(lines))
        except SinkRejectedError:
            await self._write_each(batch)
        self._counters.write_batches += 1

    async def replay_forever(self) -> None:
        """Write spooled batches, oldest first, whenever InfluxDB takes them."""
        assert self._spool is not None
        delay = RETRY_FIRST_S
        while True:
            await self._spool.has_data.wait()
            try:
                lines = await self._spool.peek()
                batches = self._spool.peeked_batches
                await self._write_once(lines)
            except SinkRejectedError:
                await self._write_each_line(lines)
            except (SinkError, SpoolError) as exc:
                log.info(
                    "spool replay waiting (%d bytes spooled): %s", self._spool.bytes_pending, exc
                )
                await asyncio.sleep(delay)  # backoff while InfluxDB or the disk is away
                delay = min(delay * 2, RETRY_MAX_S)
                with contextlib.suppress(SinkError):
                    await self._influx.ensure_database()
                continue
            await self._advance_spool()
            self._counters.replayed_batches += batches
            delay = RETRY_FIRST_S
            if not self._spool.pending and self._drained is not None:
                await self._drained()

    async def _write_each_line(self, lines: list[str]) -> None:
        """Narrow a refused spooled batch down to the points InfluxDB refuses, and drop those."""
        for line in lines:
            try:
                await self._write_once([line])
            except SinkRejectedError as exc:
                self._counters.spool_rejected_points += 1
                log.error(
                    "spooled point refused by InfluxDB and dropped: %s: %.200s", exc.text, line
                )

    async def _advance_spool(self) -> None:
        """Move past a written batch; until the disk allows it, keep trying (writing the
        batch again on a restart would store the same points, not new ones)."""
        assert self._spool is not None
        delay = RETRY_FIRST_S
        while True:
            try:
                await self._spool.advance()
                return
            except SpoolError as exc:
                self._counters.spool_errors += 1
                log.error("spool: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)  # backoff while the disk is failing
                delay = min(delay * 2, RETRY_MAX_S)

    async def _write_each(self, batch: list[_Message]) -> None:
        """Narrow a refused batch down to the points InfluxDB refuses: write every
        other point, dead-letter each refused one with InfluxDB's own error text."""
        for message in batch:
            if not message.lines:
                continue
            try:
                await self._write_retrying(message.lines)
                continue
            except SinkRejectedError:
                pass
            kept_lines, kept_points = [], []
            for line, point in zip(message.lines, message.points, strict=True):
                try:
                    await self._write_retrying([line])
                    kept_lines.append(line)
                    kept_points.append(point)
                except SinkRejectedError as exc:
                    detail = f"{message.topic}: InfluxDB refused the point at {point.time_ms} ms: {exc.text}"
                    await self._dead_letter(
                        message.topic,
                        message.payload,
                        DecodeError(DeadLetterReason.INFLUX_REJECTED, detail),
                    )
            message.lines, message.points = kept_lines, kept_points

    async def _write_once(self, lines: Sequence[str]) -> None:
        started = time.monotonic()
        try:
            await self._influx.write(lines)
        except SinkRejectedError:
            raise  # InfluxDB works; it refused this data
        except SinkError as exc:
            self.write_failing = str(exc)
            raise
        finally:
            self._record_latency(started)
        if self.write_failing is not None:
            log.warning("InfluxDB at %s is back: writes work again", self._influx.url)
        self.write_failing = None
        self._counters.points_written += len(lines)

    async def _write_retrying(self, lines: Sequence[str]) -> None:
        """Write, retrying with backoff for as long as InfluxDB is unreachable."""
        delay = RETRY_FIRST_S
        while True:
            try:
                await self._write_once(lines)
                return
            except SinkRejectedError:
                raise
            except SinkError as exc:
                self._counters.write_retries += 1
                log.warning("InfluxDB write failed, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)  # backoff between attempts
                delay = min(delay * 2, RETRY_MAX_S)
                with contextlib.suppress(SinkError):
                    await self._influx.ensure_database()

    def _record_latency(self, started: float) -> None:
        self._counters.write_seconds_sum += time.monotonic() - started
        self._counters.write_seconds_count += 1

    @property
    def unacknowledged(self) -> int:
        """Messages held for writing, not yet acknowledged to the broker."""
        return len(self._pending) + self._flushing
