"""The on-disk spool: batches InfluxDB could not take, kept in order until it can.

One append-only file of line protocol, a batch per record, records ended by a
blank line (line protocol never contains one), and a file holding how far replay
has come. An append is fsynced before the messages it carries are acknowledged,
so a crash loses nothing: a torn last record was never acknowledged, its
messages come back from the broker, and the torn tail is dropped on open.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

__all__ = ["Spool", "SpoolFull"]

SEPARATOR = b"\n\n"


class SpoolFull(Exception):
    """The spool reached its size limit; the batch stays unacknowledged at the broker."""


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.data_path = directory / "spool.lp"
        self.offset_path = directory / "spool.offset"
        self.max_bytes = max_bytes
        self.data_path.touch()
        self._drop_torn_tail()
        self._size = self.data_path.stat().st_size
        self._offset = int(self.offset_path.read_text() or 0) if self.offset_path.exists() else 0
        self._offset = min(self._offset, self._size)
        self.has_data = asyncio.Event()
        if self.pending:
            self.has_data.set()

    @property
    def pending(self) -> bool:
        return self._offset < self._size

    @property
    def bytes_pending(self) -> int:
        return self._size - self._offset

    def append(self, lines: list[str]) -> None:
        record = "\n".join(lines).encode("utf-8") + SEPARATOR
        if self.bytes_pending + len(record) > self.max_bytes:
            raise SpoolFull(
                f"{self.data_path}: {self.bytes_pending} bytes spooled, limit {self.max_bytes}"
            )
        with self.data_path.open("ab") as f:
            f.write(record)
            f.flush()
            os.fsync(f.fileno())
        self._size += len(record)
        self.has_data.set()

    def peek(self) -> list[str]:
        """The oldest unreplayed batch (empty when none)."""
        if not self.pending:
            return []
        with self.data_path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read(self._size - self._offset)
        end = chunk.index(SEPARATOR)  # whole records only: the torn tail was dropped on open
        self._next = end + len(SEPARATOR)
        return chunk[:end].decode("utf-8").split("\n")

    def advance(self) -> None:
        """The batch from peek() is written: move past it, and empty the file once all are."""
        self._offset += self._next
        if self._offset >= self._size:
            self.data_path.write_bytes(b"")
            self._offset = self._size = 0
            self.has_data.clear()
        self._save_offset()

    def _save_offset(self) -> None:
        temporary = self.offset_path.with_suffix(".tmp")
        with temporary.open("w") as f:
            f.write(str(self._offset))
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(self.offset_path)

    def _drop_torn_tail(self) -> None:
        data = self.data_path.read_bytes()
        whole = data.rfind(SEPARATOR) + len(SEPARATOR) if SEPARATOR in data else 0
        if whole < len(data):
            with self.data_path.open("r+b") as f:
                f.truncate(whole)
