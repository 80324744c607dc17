"""The on-disk spool: batches InfluxDB could not take, kept in order until it can.

One append-only file of records and a file holding how far replay has come. A
record is a header (payload length and CRC-32, 8 bytes) and the batch's line
protocol: no text a board sends can forge a record boundary, and replay reads one
record at a time. An append is fsynced before the messages it carries are
acknowledged; an append that fails is cut back off, so the file never holds a
torn record between whole ones. On open, a torn or corrupt tail (a crash
mid-append, never acknowledged) is cut off.

File I/O runs in a worker thread, so an fsync never stalls the event loop; every
I/O error is raised as SpoolError and the caller keeps the messages unacknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import zlib
from pathlib import Path

from makerwatch.ingest.errors import IngestError

__all__ = ["Spool", "SpoolError", "SpoolFull"]

log = logging.getLogger(__name__)

HEADER = struct.Struct(">II")  # payload length, CRC-32 of the payload
DATA_FILE = "spool.log"
OFFSET_FILE = "spool.offset"
OLD_DATA_FILE = "spool.lp"  # before records had headers: blank-line separated, ms times
REPLAY_BYTES = 4 * 1024**2  # line protocol per replay write: ~40,000 readings


class SpoolError(IngestError):
    """The spool's disk could not be written or read; the message names the file."""


class SpoolFull(SpoolError):
    """The spool reached its size limit; the batch stays unacknowledged at the broker."""


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.data_path = directory / DATA_FILE
            self.offset_path = directory / OFFSET_FILE
            self.max_bytes = max_bytes
            self.data_path.touch()
            self._size = self._cut_torn_tail()
            offset = self.offset_path.read_text() if self.offset_path.exists() else ""
            self._offset = min(int(offset or 0), self._size)
            self._next = self._offset
            self.peeked_batches = 0
            self._adopt_old_spool(directory / OLD_DATA_FILE)
        except OSError as exc:
            raise SpoolError(f"spool {directory}: {exc.strerror or exc}") from exc
        self._lock = asyncio.Lock()
        self.has_data = asyncio.Event()
        if self.pending:
            self.has_data.set()
        self.failing: str | None = None  # the last I/O error, until the next success

    @property
    def pending(self) -> bool:
        return self._offset < self._size

    @property
    def bytes_pending(self) -> int:
        return self._size - self._offset

    async def append(self, lines: list[str]) -> None:
        """Add one batch, fsynced; SpoolFull or SpoolError if it cannot be kept."""
        payload = "\n".join(lines).encode("utf-8")
        record = HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        async with self._lock:
            if self.bytes_pending + len(record) > self.max_bytes:
                raise SpoolFull(
                    f"{self.data_path}: {self.bytes_pending} bytes spooled, limit {self.max_bytes}"
                )
            try:
                await asyncio.to_thread(self._append, record)
            except OSError as exc:
                self.failing = f"{self.data_path}: {exc.strerror or exc}"
                raise SpoolError(self.failing) from exc
            self.failing = None
            self._size += len(record)
            self.has_data.set()

    async def peek(self) -> list[str]:
        """The oldest unreplayed batches, joined up to REPLAY_BYTES (empty when none):
        InfluxDB takes one large write faster than many small ones."""
        async with self._lock:
            if not self.pending:
                return []
            try:
                payloads, self._next = await asyncio.to_thread(self._read, self._offset)
            except OSError as exc:
                self.failing = f"{self.data_path}: {exc.strerror or exc}"
                raise SpoolError(self.failing) from exc
            self.peeked_batches = len(payloads)  # the batches that one write replays
            return b"\n".join(payloads).decode("utf-8").split("\n")

    async def advance(self) -> None:
        """The batch from peek() is written: move past it, and empty the file once all are."""
        async with self._lock:
            try:
                if self._next >= self._size:
                    await asyncio.to_thread(self._empty)
                    self._offset = self._size = self._next = 0
                    self.has_data.clear()
                else:
                    await asyncio.to_thread(self._save_offset, self._next)
                    self._offset = self._next
            except OSError as exc:
                self.failing = f"{self.offset_path}: {exc.strerror or exc}"
                raise SpoolError(self.failing) from exc
            self.failing = None

    # Blocking file work, run in a worker thread.

    def _append(self, record: bytes) -> None:
        with self.data_path.open("r+b") as f:
            f.seek(self._size)
            try:
                f.write(record)
                f.flush()
                os.fsync(f.fileno())
            except OSError:
                # Cut the partial record back off: a later append must not follow a torn one.
                f.truncate(self._size)
                raise

    def _read(self, offset: int) -> tuple[list[bytes], int]:
        """Whole records from `offset`: at least one, more while under REPLAY_BYTES.
        Returns their payloads and the offset after the last."""
        payloads: list[bytes] = []
        total = 0
        with self.data_path.open("rb") as f:
            f.seek(offset)
            while offset < self._size and (not payloads or total < REPLAY_BYTES):
                length, _ = HEADER.unpack(f.read(HEADER.size))
                if payloads and total + length > REPLAY_BYTES:
                    break
                payloads.append(f.read(length))
                total += length
                offset += HEADER.size + length
        return payloads, offset

    def _empty(self) -> None:
        with self.data_path.open("r+b") as f:
            f.truncate(0)
            os.fsync(f.fileno())
        self._save_offset(0)

    def _save_offset(self, offset: int) -> None:
        temporary = self.offset_path.with_suffix(".tmp")
        with temporary.open("w") as f:
            f.write(str(offset))
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(self.offset_path)

    def _cut_torn_tail(self) -> int:
        """Walk the records; cut the file after the last whole one. Returns the size."""
        size = self.data_path.stat().st_size
        whole = 0
        with self.data_path.open("r+b") as f:
            while whole + HEADER.size <= size:
                f.seek(whole)
                length, crc = HEADER.unpack(f.read(HEADER.size))
                end = whole + HEADER.size + length
                if end > size or zlib.crc32(f.read(length)) != crc:
                    break
                whole = end
            if whole < size:
                log.warning("spool %s: cut %d bytes of a torn record", self.data_path, size - whole)
                f.truncate(whole)
        return whole

    def _adopt_old_spool(self, old: Path) -> None:
        """Carry batches spooled by an older version (millisecond times) into this log."""
        if not old.exists():
            return
        old_offset_path = old.with_suffix(".offset")
        start = int(old_offset_path.read_text() or 0) if old_offset_path.exists() else 0
        records = old.read_bytes()[start:].split(b"\n\n")
        for record in records[:-1]:  # the last is empty, or a torn tail never acknowledged
            lines = [line + b"000000" for line in record.split(b"\n")]  # ms -> ns
            payload = b"\n".join(lines)
            self._append(HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
            self._size += HEADER.size + len(payload)
        old.unlink()
        old_offset_path.unlink(missing_ok=True)
